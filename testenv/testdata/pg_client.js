// Connects with node-postgres (pg) to PG_URL and prints one seeded email.
const { Client } = require('pg');

async function main() {
  // sslmode=verify-full&sslrootcert=... in the URL: pg verifies against the CA.
  const client = new Client({ connectionString: process.env.PG_URL });
  await client.connect();
  const res = await client.query('SELECT email FROM users WHERE id = $1', [Number(process.argv[2])]);
  console.log(res.rows[0].email);
  await client.end();
}
main().catch((err) => { console.error(err.message); process.exit(1); });
