package postgres_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

// gatewayURL is a postgres:// URL through the gateway (node-postgres wants a URL).
func (g *gw) gatewayURL(user, token string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, token), Host: g.addr, Path: "/app", RawQuery: "sslmode=disable"}
	return u.String()
}

func TestNodePostgresClient(t *testing.T) {
	g := startGateway(t, "")
	out := testenv.RunNode(t, "", filepath.Join(testenv.ClientsDir(), "pg_client.js"),
		map[string]string{"SLUICE_PG_URL": g.gatewayURL("alice", aliceToken)})
	var res struct {
		Plain int `json:"plain"`
		Param []struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		} `json:"param"`
		TX     int `json:"tx"`
		Error  *struct{ Code, Message string }
		Error2 *struct{ Code, Message string }
		After  int `json:"after"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if res.Plain != testenv.DemoRows || len(res.Param) != 2 || res.Param[0].ID != 3 || res.Param[1].Name != "User 7" || res.TX != 3 || res.After != 1 {
		t.Fatalf("node results: %+v", res)
	}
	if res.Error == nil || res.Error.Code != "22012" || res.Error2 == nil || res.Error2.Code != "42P01" {
		t.Fatalf("node errors: %+v %+v", res.Error, res.Error2)
	}
}

func TestPsycopg2Client(t *testing.T) {
	g := startGateway(t, "")
	out := testenv.RunPython(t, filepath.Join(testenv.ClientsDir(), "pg_client.py"),
		map[string]string{"SLUICE_PG_DSN": g.dsn("alice", aliceToken, "application_name=psycopg2-test")})
	var res struct {
		Plain  int     `json:"plain"`
		Param  [][]any `json:"param"`
		TX     int     `json:"tx"`
		Error  *struct{ Code, Message string }
		Cursor struct {
			Batches, Rows int
			First         []any
		}
		Copy struct {
			Lines       int
			First, Last string
		}
		After int `json:"after"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if res.Plain != testenv.DemoRows || len(res.Param) != 2 || res.TX != 3 || res.After != 1 {
		t.Fatalf("psycopg2 results: %+v", res)
	}
	if res.Error == nil || res.Error.Code != "22012" || !strings.Contains(res.Error.Message, "division by zero") {
		t.Fatalf("psycopg2 error: %+v", res.Error)
	}
	if res.Cursor.Rows != testenv.DemoRows || res.Cursor.Batches != testenv.DemoRows/1000 || len(res.Cursor.First) != 2 || res.Cursor.First[1] != "user1@example.com" {
		t.Fatalf("named cursor: %+v", res.Cursor)
	}
	if res.Copy.Lines != 1002 || res.Copy.First != "1,a" || res.Copy.Last != "1009,row 1009" {
		t.Fatalf("copy_expert: %+v", res.Copy)
	}
}

func TestPgxBinaryRoundTrip(t *testing.T) {
	g := startGateway(t, "")
	ctx := context.Background()
	c := connect(t, g.dsn("alice", aliceToken, "default_query_exec_mode=cache_statement"))

	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	num := pgtype.Numeric{Int: big.NewInt(-12345678901234), Exp: -4, Valid: true}
	uuid := [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}
	blob := []byte{0, 1, 2, 0xff, 0xfe, '\\', 'x'}
	doc := map[string]any{"a": float64(1), "b": []any{"x", true, nil}, "ü": "ß"}
	ints := []int32{1, -2, 3, 2147483647}
	texts := []string{"a", "b,c", `d"e`, ""}

	var (
		i2     int16
		i4     int32
		i8     int64
		gotNum pgtype.Numeric
		gotTS  time.Time
		gotB   []byte
		gotU   [16]byte
		gotDoc map[string]any
		gotI   []int32
		gotT   []string
	)
	err := c.QueryRow(ctx, "SELECT $1::int2, $2::int4, $3::int8, $4::numeric, $5::timestamptz, $6::bytea, $7::uuid, $8::jsonb, $9::int4[], $10::text[]",
		int16(-32768), int32(2147483647), int64(-9223372036854775808), num, ts, blob, uuid, doc, ints, texts).
		Scan(&i2, &i4, &i8, &gotNum, &gotTS, &gotB, &gotU, &gotDoc, &gotI, &gotT)
	if err != nil {
		t.Fatal(err)
	}
	if i2 != -32768 || i4 != 2147483647 || i8 != -9223372036854775808 {
		t.Fatalf("ints %d %d %d", i2, i4, i8)
	}
	if gotNum.Int.Cmp(num.Int) != 0 || gotNum.Exp != num.Exp {
		// Postgres may normalise the exponent: compare the values.
		a, _ := gotNum.Float64Value()
		b, _ := num.Float64Value()
		if a != b {
			t.Fatalf("numeric %v want %v", gotNum, num)
		}
	}
	if !gotTS.Equal(ts) || !bytes.Equal(gotB, blob) || gotU != uuid || !reflect.DeepEqual(gotDoc, doc) ||
		!reflect.DeepEqual(gotI, ints) || !reflect.DeepEqual(gotT, texts) {
		t.Fatalf("round trip: %v %x %x %v %v %q", gotTS, gotB, gotU, gotDoc, gotI, gotT)
	}

	// A 1 MB text bind parameter, and its echo.
	big1 := strings.Repeat("0123456789abcdef", 1<<16)
	var n int
	var echo string
	if err := c.QueryRow(ctx, "SELECT length($1::text), $1::text", big1).Scan(&n, &echo); err != nil {
		t.Fatal(err)
	}
	if n != len(big1) || echo != big1 {
		t.Fatalf("1 MB param: length %d echo %d bytes", n, len(echo))
	}

	// A 10 MB bytea row from the server, and one sent as a parameter.
	var row []byte
	if err := c.QueryRow(ctx, "SELECT convert_to(repeat('z', 10485760), 'UTF8')").Scan(&row); err != nil {
		t.Fatal(err)
	}
	if len(row) != 10<<20 || row[0] != 'z' || row[len(row)-1] != 'z' {
		t.Fatalf("10 MB bytea row: %d bytes", len(row))
	}
	var md5 string
	if err := c.QueryRow(ctx, "SELECT length($1::bytea) || ':' || md5($1::bytea)", row).Scan(&md5); err != nil {
		t.Fatal(err)
	}
	if md5 != "10485760:"+md5hex(row) {
		t.Fatalf("10 MB bytea param: %s", md5)
	}

	// The same statements run again from the statement cache (Bind/Execute only).
	for i := 0; i < 3; i++ {
		if err := c.QueryRow(ctx, "SELECT length($1::text), $1::text", "again").Scan(&n, &echo); err != nil || n != 5 {
			t.Fatalf("cached statement: %v %d", err, n)
		}
	}
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func TestQueryLogContent(t *testing.T) {
	g := startGateway(t, guardedYAML)
	ctx := context.Background()
	c := connect(t, g.dsn("alice", aliceToken, "default_query_exec_mode=cache_statement application_name=qlog-test"))
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM users WHERE id <= $1 /* route='%2Fusers',app='billing' */", 7).Scan(&n); err != nil || n != 7 {
		t.Fatalf("count: %d %v", n, err)
	}
	rows, err := c.Query(ctx, "SELECT id, email FROM users WHERE id <= $1 ORDER BY id", 12)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	if _, err := c.Exec(ctx, "SELECT 1/0"); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if _, err := c.Exec(ctx, "DROP TABLE orders"); err == nil {
		t.Fatal("drop succeeded")
	}
	if _, err := c.PgConn().Exec(ctx, "CREATE TEMP TABLE ql(x int); INSERT INTO ql SELECT generate_series(1, 42)").ReadAll(); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)

	ev := queryLog(t, g)
	find := func(prefix string) session.QueryEvent {
		t.Helper()
		for _, e := range ev {
			if strings.HasPrefix(e.Statement, prefix) {
				return e
			}
		}
		t.Fatalf("no query-log line for %q in %+v", prefix, ev)
		return session.QueryEvent{}
	}
	cnt := find("SELECT count(*) FROM users")
	if cnt.Decision != "allow" || cnt.Rows != 1 || cnt.Tag != "SELECT 1" || !reflect.DeepEqual(cnt.Params, []string{`\x00000007`}) && !reflect.DeepEqual(cnt.Params, []string{"7"}) ||
		cnt.Tags["route"] != "/users" || cnt.Tags["app"] != "billing" {
		t.Errorf("count line: %+v", cnt)
	}
	sel := find("SELECT id, email")
	if sel.Rows != 12 || sel.Tag != "SELECT 12" || !reflect.DeepEqual(sel.Masked, []string{"email"}) || len(sel.Sample) == 0 {
		t.Errorf("select line: %+v", sel)
	}
	for _, row := range sel.Sample {
		for _, v := range row {
			if strings.Contains(v, "@example") {
				t.Errorf("the query log sample holds an unmasked e-mail: %q", v)
			}
		}
	}
	div := find("SELECT 1/0")
	if div.SQLState != "22012" || div.Error == "" || div.Decision != "allow" {
		t.Errorf("error line: %+v", div)
	}
	drop := find("DROP TABLE orders")
	if drop.Decision != "block" || drop.Rule != "no-drops" || drop.SQLState != "42501" {
		t.Errorf("block line: %+v", drop)
	}
	ins := find("CREATE TEMP TABLE ql")
	if ins.Tag != "INSERT 0 42" || ins.Rows != 42 {
		t.Errorf("multi-statement line: %+v", ins)
	}
	seqs := map[int64]bool{}
	for _, e := range ev {
		if seqs[e.Seq] {
			t.Errorf("duplicate seq %d", e.Seq)
		}
		seqs[e.Seq] = true
		if e.Time.IsZero() || e.Duration < 0 {
			t.Errorf("line without time: %+v", e)
		}
	}
	recs := sessionStatuses(t, g)
	if len(recs) != 1 || recs[0].Tags["application_name"] != "qlog-test" || recs[0].Queries != int64(len(ev)) {
		t.Errorf("session record: %+v (%d query lines)", recs, len(ev))
	}
}
