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
