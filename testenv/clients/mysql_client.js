// Runs statements through node mysql2 against SLUICE_MYSQL_URL and prints
// one JSON line per statement: {"sql", "mode", "rows"} or {"sql", "mode",
// "errno", "sqlState", "message"}. Usage: node mysql_client.js MODE SQL...
// where MODE is "query" (text protocol) or "execute" (prepared, binary rows).
// Set SLUICE_MYSQL_SSL=1 to connect with TLS (certificate not verified).
'use strict';
const mysql = require('mysql2/promise');

async function main() {
  const [mode, ...stmts] = process.argv.slice(2);
  const opts = { uri: process.env.SLUICE_MYSQL_URL, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true };
  if (process.env.SLUICE_MYSQL_SSL === '1') {
    opts.ssl = { rejectUnauthorized: false };
  }
  const conn = await mysql.createConnection(opts);
  for (const sql of stmts) {
    try {
      const [rows] = mode === 'execute' ? await conn.execute(sql) : await conn.query(sql);
      console.log(JSON.stringify({ sql, mode, rows }));
    } catch (err) {
      console.log(JSON.stringify({ sql, mode, errno: err.errno, sqlState: err.sqlState, message: err.sqlMessage || err.message }));
    }
  }
  await conn.end();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
