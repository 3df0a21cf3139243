// Runs a fixed scenario through node-postgres (require('pg')) against
// SLUICE_PG_URL and prints one JSON object: a plain query, a parameterized
// query, a committed and a rolled-back transaction, and an error with its
// SQLSTATE. The Go test asserts on the output.
'use strict';
const { Client } = require('pg');

async function main() {
  const client = new Client({ connectionString: process.env.SLUICE_PG_URL });
  await client.connect();
  const out = {};
  out.plain = (await client.query('SELECT count(*)::int AS n FROM users')).rows[0].n;
  const p = await client.query('SELECT id, name FROM users WHERE id = $1 OR name = $2 ORDER BY id', [3, 'User 7']);
  out.param = p.rows;
  await client.query('CREATE TEMP TABLE nt(x int)');
  await client.query('BEGIN');
  await client.query('INSERT INTO nt VALUES ($1), ($2)', [1, 2]);
  await client.query('COMMIT');
  await client.query('BEGIN');
  await client.query('INSERT INTO nt VALUES (100)');
  await client.query('ROLLBACK');
  out.tx = (await client.query('SELECT sum(x)::int AS s FROM nt')).rows[0].s;
  try {
    await client.query('SELECT 1/0');
    out.error = null;
  } catch (err) {
    out.error = { code: err.code, message: err.message };
  }
  try {
    await client.query('SELECT * FROM nope_missing WHERE id = $1', [1]);
    out.error2 = null;
  } catch (err) {
    out.error2 = { code: err.code, message: err.message };
  }
  out.after = (await client.query('SELECT 1 AS one')).rows[0].one;
  await client.end();
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
