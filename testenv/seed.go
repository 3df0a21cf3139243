package testenv

import (
	"context"
	"fmt"
)

// DemoRows is how many rows SeedDemo puts in users.
const DemoRows = 5000

// demoCards are well-known test card numbers (Luhn-valid, never issued), so
// the content detector has something real to find.
var demoCards = []string{"4111111111111111", "5500005555555559", "340000000000009", "4012888888881881", "6011000990139424"}

// SeedDemo creates and fills users(id, name, email, ssn, card, balance) and
// orders(id, user_id, total, created_at) in the app database, owned by the
// app role. The data is deterministic so tests can assert on it: row i has
// name "User i", email "user<i>@example.com", ssn "<3>-<2>-<4 digits of i>".
func SeedDemo(ctx context.Context, p *Postgres) error {
	cards := "ARRAY["
	for i, c := range demoCards {
		if i > 0 {
			cards += ","
		}
		cards += quoteLiteral(c)
	}
	cards += "]"
	sql := fmt.Sprintf(`
DROP TABLE IF EXISTS orders, users;
CREATE TABLE users (
  id      int PRIMARY KEY,
  name    text NOT NULL,
  email   text NOT NULL,
  ssn     text,
  card    text,
  balance numeric(12,2) NOT NULL DEFAULT 0
);
INSERT INTO users
SELECT i,
       'User ' || i,
       'user' || i || '@example.com',
       lpad((100 + i %% 800)::text, 3, '0') || '-' || lpad((i %% 100)::text, 2, '0') || '-' || lpad((i %% 10000)::text, 4, '0'),
       (%[1]s)[1 + i %% %[2]d],
       round(((i * 7919) %% 100000) / 100.0, 2)
FROM generate_series(1, %[3]d) AS i;
CREATE TABLE orders (
  id         int PRIMARY KEY,
  user_id    int NOT NULL REFERENCES users(id),
  total      numeric(12,2) NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO orders
SELECT i, 1 + (i * 31) %% %[3]d, round(((i * 104729) %% 50000) / 100.0, 2),
       timestamptz '2024-01-01 00:00:00+00' + make_interval(mins => i)
FROM generate_series(1, %[3]d * 2) AS i;
ALTER TABLE users OWNER TO %[4]s;
ALTER TABLE orders OWNER TO %[4]s;
ANALYZE users;
ANALYZE orders;`, cards, len(demoCards), DemoRows, quoteIdent(p.User))
	if err := p.Exec(ctx, sql); err != nil {
		return fmt.Errorf("testenv: seed demo data: %w", err)
	}
	return nil
}

// SeedDemoMariaDB creates the same users and orders tables as SeedDemo in
// the MariaDB app database (shop), with the same deterministic rows.
func SeedDemoMariaDB(ctx context.Context, m *MariaDB) error {
	cards := ""
	for _, c := range demoCards {
		cards += ", " + quoteMySQLLiteral(c)
	}
	// seq_1_to_N is MariaDB's built-in Sequence engine: no recursion limits.
	stmts := []string{
		"DROP TABLE IF EXISTS orders, users",
		`CREATE TABLE users (
  id      INT PRIMARY KEY,
  name    VARCHAR(100) NOT NULL,
  email   VARCHAR(200) NOT NULL,
  ssn     VARCHAR(20),
  card    VARCHAR(32),
  balance DECIMAL(12,2) NOT NULL DEFAULT 0
)`,
		fmt.Sprintf(`INSERT INTO users
SELECT seq,
       CONCAT('User ', seq),
       CONCAT('user', seq, '@example.com'),
       CONCAT(LPAD(100 + seq %% 800, 3, '0'), '-', LPAD(seq %% 100, 2, '0'), '-', LPAD(seq %% 10000, 4, '0')),
       ELT(1 + seq %% %d%s),
       ROUND(((seq * 7919) %% 100000) / 100.0, 2)
FROM seq_1_to_%d`, len(demoCards), cards, DemoRows),
		`CREATE TABLE orders (
  id         INT PRIMARY KEY,
  user_id    INT NOT NULL,
  total      DECIMAL(12,2) NOT NULL,
  created_at DATETIME NOT NULL,
  FOREIGN KEY (user_id) REFERENCES users(id)
)`,
		fmt.Sprintf(`INSERT INTO orders
SELECT seq, 1 + (seq * 31) %% %[1]d, ROUND(((seq * 104729) %% 50000) / 100.0, 2),
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq MINUTE
FROM seq_1_to_%[2]d`, DemoRows, 2*DemoRows),
	}
	for _, s := range stmts {
		if err := m.Exec(ctx, s); err != nil {
			return fmt.Errorf("testenv: seed mariadb demo data: %w", err)
		}
	}
	return nil
}
