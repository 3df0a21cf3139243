package mysql

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// rawCommand sends one command packet on a go-mysql client connection and
// returns the first response packet.
func rawCommand(t *testing.T, c *client.Conn, payload ...byte) []byte {
	t.Helper()
	c.ResetSequence()
	if err := c.WritePacket(append([]byte{0, 0, 0, 0}, payload...)); err != nil {
		t.Fatal(err)
	}
	p, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOtherCommands(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	c, err := client.Connect(g.addr, "alice", aliceToken, mdb.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	fields, err := c.FieldList("users", "")
	if err != nil || len(fields) != 7 || string(fields[1].Name) != "name" {
		t.Fatalf("field list: %d fields, %v", len(fields), err)
	}
	if err := c.UseDB(mdb.Database); err != nil {
		t.Fatalf("init db: %v", err)
	}
	err = c.UseDB("mysql")
	var me *gm.MyError
	if !errors.As(err, &me) || me.Code != gm.ER_DBACCESS_DENIED_ERROR {
		t.Fatalf("init db outside the pinned database: %v", err)
	}
	if p := rawCommand(t, c, gm.COM_STATISTICS); !strings.HasPrefix(string(p), "Uptime:") {
		t.Fatalf("statistics: %q", p)
	}
	r, err := c.Execute("SET @x = 5")
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if p := rawCommand(t, c, gm.COM_RESET_CONNECTION); p[0] != hdrOK {
		t.Fatalf("reset connection: %x", p)
	}
	r, err = c.Execute("SELECT @x")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.GetString(0, 0); v != "" {
		t.Fatalf("user variable survived COM_RESET_CONNECTION: %q", v)
	}
	r.Close()
	// Statements prepared on the go-mysql client path (binary protocol).
	st, err := c.Prepare("SELECT id, born, score FROM users WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	r, err = st.Execute(1)
	if err != nil {
		t.Fatal(err)
	}
	if born, _ := r.GetString(0, 1); !strings.HasPrefix(born, "1990-01-02") {
		t.Fatalf("binary date: %q", born)
	}
	r.Close()
	st.Close()
	if _, err := st.Execute(1); err == nil {
		t.Fatal("a closed statement executed")
	}

	p := rawCommand(t, c, gm.COM_CHANGE_USER, 'b', 'o', 'b', 0)
	if e, err := parseErr(p); err != nil || e.Code != erAccessDeniedChangeUser {
		t.Fatalf("change user: %x", p)
	}
	if _, err := c.ReadPacket(); err == nil {
		t.Fatal("connection still open after a refused COM_CHANGE_USER")
	}

	// Sessions close exactly once each, counted by status.
	// The counter and the gauge are updated one after the other: wait for both.
	closed := func() float64 {
		return metricValue(g.engine.deps.Metrics.Sessions.WithLabelValues(protocolName, "shop", "closed"))
	}
	active := func() float64 {
		return metricValue(g.engine.deps.Metrics.ActiveSessions.WithLabelValues(protocolName, "shop"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for closed() != 1 || active() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after close: sessions closed = %v (want 1), active = %v (want 0)", closed(), active())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMultiStatementJudgedWhole(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	db := g.open(t, "alice", aliceToken, "multiStatements=true")
	_, err := db.Exec("SELECT 1; DROP TABLE orders")
	if me := mysqlErr(t, err); me.Number != 1142 || !strings.Contains(me.Message, "no-drops") {
		t.Fatalf("got %v", me)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil {
		t.Fatalf("orders gone? %v", err)
	}
}

// metricValue reads a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// TestCursorFetchMasked opens a read-only cursor (COM_STMT_EXECUTE with a
// cursor flag, rows through COM_STMT_FETCH), which no bundled client
// library drives, so the packets are written here; the server is real.
func TestCursorFetchMasked(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	c, err := client.Connect(g.addr, "alice", aliceToken, mdb.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func() []byte {
		t.Helper()
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := rawCommand(t, c, append([]byte{gm.COM_STMT_PREPARE}, "SELECT id, email FROM users ORDER BY id"...)...)
	if ok[0] != hdrOK {
		t.Fatalf("prepare: %x", ok)
	}
	id := ok[1:5]
	for range 2 { // column definitions (go-mysql negotiates DEPRECATE_EOF)
		read()
	}
	exec := append(append([]byte{gm.COM_STMT_EXECUTE}, id...), gm.CURSOR_TYPE_READ_ONLY, 1, 0, 0, 0)
	read0 := rawCommand(t, c, exec...)
	if read0[0] != 2 {
		t.Fatalf("execute: column count %x", read0)
	}
	read()
	read()
	term := read()
	if st, err := okStatus(term, true); err != nil || st&gm.SERVER_STATUS_CURSOR_EXISTS == 0 {
		t.Fatalf("no cursor opened: %x", term)
	}
	fetch := append(append([]byte{gm.COM_STMT_FETCH}, id...), 10, 0, 0, 0)
	row := rawCommand(t, c, fetch...)
	cols := []columnDef{{Type: gm.MYSQL_TYPE_LONG}, {Type: gm.MYSQL_TYPE_VAR_STRING}}
	vals, err := decodeBinaryRow(row, cols, nil)
	if err != nil {
		t.Fatalf("fetched row %x: %v", row, err)
	}
	if string(vals[1]) != "****.com" {
		t.Fatalf("fetched email %q, want masked", vals[1])
	}
	for {
		p := read()
		if isTerminator(p) {
			break
		}
	}
}
