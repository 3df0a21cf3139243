package policy

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/sluice-gw/sluice/config"
)

// realisticPolicy: 5 rules, 3 masks (the benchmark shape).
func realisticPolicy(t testing.TB) *Policy {
	return testPolicy(t, config.Policy{
		HashKey: "k",
		Rules: []config.Rule{
			{Name: "no-drops", When: config.When{SQL: []string{"drop", "truncate"}}, Action: "block"},
			{Name: "bulk-writes", When: config.When{SQL: []string{"delete", "update"}, WithoutWhere: true}, Action: "review"},
			{Name: "no-file-read", When: config.When{Functions: []string{"pg_read_file", "pg_ls_dir", "lo_export"}}, Action: "block"},
			{Name: "no-copy-program", When: config.When{CopyProgram: true}, Action: "block"},
			{Name: "audit-readonly", When: config.When{Tables: []string{"audit.*"}, SQL: []string{"write"}}, Action: "block"},
		},
		Masks: []config.Mask{
			{Columns: []string{"users.email"}, Method: "email"},
			{Columns: []string{"*.ssn"}, Method: "partial"},
			{Columns: []string{"accounts.iban"}, Method: "hash"},
		},
	})
}

func TestCheckSQLConcurrent(t *testing.T) {
	p := realisticPolicy(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				q := "SELECT abalance FROM pgbench_accounts WHERE aid = " + strconv.Itoa(i%50)
				if d := p.CheckSQL(Postgres, alice, q); d.Action != Allow {
					t.Errorf("%q: %v", q, d.Action)
					return
				}
				if d := p.CheckSQL(Postgres, alice, fmt.Sprintf("DROP TABLE t%d", i%7)); d.Action != Block {
					t.Errorf("drop: %v", d.Action)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCacheBounded(t *testing.T) {
	var c clockCache
	c.init(64)
	a := &analysis{}
	for i := 0; i < 1000; i++ {
		c.put("k"+strconv.Itoa(i), a)
		if i%3 == 0 {
			c.get("k0")
		}
	}
	if n := c.len(); n > 64 {
		t.Fatalf("cache grew to %d", n)
	}
	if c.get("k999") == nil {
		t.Fatal("latest entry evicted")
	}
	// Long texts are bounded by bytes, not only by count.
	var b clockCache
	b.init(1000)
	b.maxBytes = 10 << 10
	long := strings.Repeat("x", 1000)
	for i := 0; i < 100; i++ {
		b.put(strconv.Itoa(i)+long, a)
	}
	if b.bytes > b.maxBytes || b.len() > 11 {
		t.Fatalf("cache holds %d bytes in %d entries", b.bytes, b.len())
	}
}

func TestCheckSQLTextNotRetained(t *testing.T) {
	// Engines may pass a string over a reused read buffer: the cache must
	// keep its own copy of the text.
	p := realisticPolicy(t)
	buf := []byte("DROP TABLE a")
	s := unsafe.String(&buf[0], len(buf))
	if d := p.CheckSQL(Postgres, alice, s); d.Action != Block {
		t.Fatal(d.Action)
	}
	copy(buf, "SELECT 12345")
	for k := range p.cache[Postgres].exact.m {
		if k == "SELECT 12345" {
			t.Fatal("cache key aliases the caller's buffer")
		}
	}
	if d := p.CheckSQL(Postgres, alice, "DROP TABLE a"); d.Action != Block {
		t.Fatal(d.Action)
	}
}

func BenchmarkCheckSQLCached(b *testing.B) {
	p := realisticPolicy(b)
	q := "SELECT abalance FROM pgbench_accounts WHERE aid = 42"
	p.CheckSQL(Postgres, alice, q)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := p.CheckSQL(Postgres, alice, q); d.Action != Allow {
			b.Fatal(d.Action)
		}
	}
}

func BenchmarkCheckSQLLiteralChanges(b *testing.B) {
	p := realisticPolicy(b)
	qs := make([]string, 1<<14)
	for i := range qs {
		qs[i] = "SELECT abalance FROM pgbench_accounts WHERE aid = " + strconv.Itoa(i)
	}
	p.CheckSQL(Postgres, alice, qs[0])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.CheckSQL(Postgres, alice, qs[i%len(qs)])
	}
}

func BenchmarkCheckSQLUncached(b *testing.B) {
	p := realisticPolicy(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.build(Postgres, "SELECT u.email, a.iban FROM users u JOIN accounts a ON a.uid = u.id WHERE u.id = 7")
	}
}

func BenchmarkCheckSQLUncachedMySQL(b *testing.B) {
	p := realisticPolicy(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.build(MySQL, "SELECT u.email, a.iban FROM users u JOIN accounts a ON a.uid = u.id WHERE u.id = 7")
	}
}

func benchRows(b *testing.B, sql string, detect bool) {
	pc := config.Policy{HashKey: "k", Masks: []config.Mask{
		{Columns: []string{"users.email"}, Method: "email"},
		{Columns: []string{"*.ssn"}, Method: "partial"},
	}}
	if detect {
		pc.Masks = append(pc.Masks, config.Mask{Detect: []string{"credit_card", "aws_access_key", "private_key", "jwt", "email"}, Method: "redact"})
	}
	p := testPolicy(b, pc)
	rm := p.CheckSQL(Postgres, alice, sql).Mask.Columns([]Field{
		{Name: "id", Type: TypeInt, Size: 4}, {Name: "email", Type: TypeText, Size: -1},
		{Name: "ssn", Type: TypeText, Size: -1}, {Name: "name", Type: TypeText, Size: -1},
	})
	id, email, ssn, name := []byte("12345"), []byte("alice@example.com"), []byte("123-45-6789"), []byte("Alice Liddell")
	row := make([][]byte, 4)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		row[0], row[1], row[2], row[3] = id, email, ssn, name
		rm.MaskRow(row)
	}
}

func BenchmarkMaskRowTwoMasked(b *testing.B) {
	benchRows(b, "SELECT id, email, ssn, name FROM users", false)
}

func BenchmarkMaskRowOneMasked(b *testing.B) {
	benchRows(b, "SELECT id, email, ssn, name FROM customers_v", false) // only *.ssn
}

func BenchmarkMaskRowDetectors(b *testing.B) {
	benchRows(b, "SELECT id, email, ssn, name FROM users", true)
}

func FuzzCheckSQL(f *testing.F) {
	for _, s := range []string{
		"SELECT email FROM users", "DROP TABLE t", "WITH RECURSIVE r AS (SELECT 1 UNION SELECT * FROM r) SELECT * FROM r",
		"SELECT * FROM (SELECT * FROM (SELECT email FROM users) a) b", "COPY (SELECT 1) TO STDOUT", "/*!40000 SELECT 1 */",
		"SELECT $1::int", "EXPLAIN (ANALYZE 1) DELETE FROM t", "SELECT row_to_json(u) FROM users u", "SELECT 1; SELEC",
		"PREPARE s FROM 'SELECT email FROM users'", "\x00", "SELECT E'\\x00'", "SELECT (((((((1)))))))",
		"USE crm; SELECT email FROM users", "USE `a``b`; SELECT * FROM v; USE c",
		"SELECT id FROM users u JOIN people p USING (ssn) WHERE u.email > 'm' GROUP BY 1 ORDER BY 2",
		"SELECT set_config('x', email, false) FROM users", "SET @v = (SELECT email FROM users)", "DO (@v := 1)",
		"CREATE RULE r AS ON UPDATE TO users DO ALSO INSERT INTO a VALUES (OLD.email)",
		"ALTER TABLE users RENAME COLUMN email TO e", "ALTER TABLE users CHANGE email e TEXT", "RENAME TABLE users TO u",
		"CREATE TABLE p PARTITION OF users FOR VALUES IN (1)", "ALTER TABLE users ALTER COLUMN name TYPE text USING email",
		"INSERT INTO a VALUES (1) ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.email", "SHOW FULL PROCESSLIST",
		"CREATE PROCEDURE p() BEGIN SELECT * FROM users; END", "COPY a FROM '/x'", "EXPLAIN SELECT 1 FROM users WHERE email = 'x'",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	p := maskPolicy(f, "mask")
	g := realisticPolicy(f)
	probes := probePolicy(f)
	f.Fuzz(func(t *testing.T, s string, mysql bool) {
		d := Postgres
		if mysql {
			d = MySQL
		}
		dec := p.CheckSQL(d, alice, s)
		rm := dec.Mask.Columns(textFields("a", "email", "c"))
		rm.MaskRow([][]byte{[]byte("x"), []byte("y@z.io"), nil})
		g.CheckSQL(d, alice, s)
		inDB := alice
		inDB.Database = "crm" // MySQL resolves unqualified names against the current database
		p.CheckSQL(d, inDB, s)
		if dec := probes.CheckSQL(d, alice, s); dec.Action == Allow && dec.Rule == "masked_filters" {
			t.Fatalf("masked_filters allowed: %+v", dec)
		}
	})
}
