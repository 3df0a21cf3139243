// Connects with mysql2 to MYSQL_URL and prints one seeded email.
const mysql = require('mysql2/promise');

async function main() {
  const conn = await mysql.createConnection(process.env.MYSQL_URL);
  const [rows] = await conn.execute('SELECT email FROM users WHERE id = ?', [Number(process.argv[2])]);
  console.log(rows[0].email);
  await conn.end();
}
main().catch((err) => { console.error(err.message); process.exit(1); });
