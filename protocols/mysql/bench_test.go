package mysql

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-gw/sluice/testenv"
)

// benchPolicy is a realistic policy: rules that every statement is judged
// against and masks on the tables sysbench does not touch.
const benchPolicy = `    rules:
      - {name: no-drops, when: {sql: [drop, truncate]}, action: block}
      - {name: bulk-writes, when: {sql: [delete, update], without_where: true}, action: review}
      - {name: no-file-read, when: {functions: [load_file]}, action: block}
    masks:
      - {columns: [users.email, "*.ssn"], method: partial}
`

var sysbenchTPS = regexp.MustCompile(`transactions:\s+\d+\s+\(([0-9.]+) per sec\.\)`)

// runSysbench runs one sysbench OLTP workload and returns transactions/s.
func runSysbench(tb testing.TB, workload, addr, user, password, cmd string, threads int, secs int) float64 {
	tb.Helper()
	bin := testenv.RequireBinary(tb, "sysbench", "sysbench")
	host, port, _ := strings.Cut(addr, ":")
	args := []string{workload, "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=" + user, "--mysql-password=" + password, "--mysql-db=" + mdb.Database,
		"--mysql-ssl=off", "--tables=1", "--table-size=10000",
		fmt.Sprintf("--threads=%d", threads), fmt.Sprintf("--time=%d", secs), cmd}
	c := exec.Command(bin, args...)
	c.Env = []string{"HOME=" + os.TempDir()}
	out, errOut, code, err := testenv.RunClient(c)
	if err != nil || code != 0 {
		tb.Fatalf("sysbench %s %s: exit %d %v\n%s\n%s", workload, cmd, code, err, out, errOut)
	}
	if cmd != "run" {
		return 0
	}
	m := sysbenchTPS.FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("sysbench output without a tps line:\n%s", out)
	}
	tps, _ := strconv.ParseFloat(m[1], 64)
	return tps
}

// BenchmarkSysbench compares sysbench oltp_point_select and oltp_read_only
// with 8 threads, direct to MariaDB and through the gateway (policy and
// query log on), in the same run. It runs once whatever b.N is:
//
//	go test -run '^$' -bench Sysbench -benchtime 1x ./protocols/mysql/
func BenchmarkSysbench(b *testing.B) {
	g := startGateway(b, gatewayOptions{policy: benchPolicy, quiet: true})
	secs := 10
	if s := os.Getenv("SLUICE_BENCH_SECONDS"); s != "" {
		secs, _ = strconv.Atoi(s)
	}
	runSysbench(b, "oltp_read_only", mdb.Addr, mdb.User, mdb.Password, "prepare", 1, 1)
	b.Cleanup(func() { runSysbench(b, "oltp_read_only", mdb.Addr, mdb.User, mdb.Password, "cleanup", 1, 1) })
	for range b.N {
		for _, w := range []string{"oltp_point_select", "oltp_read_only"} {
			direct := runSysbench(b, w, mdb.Addr, mdb.User, mdb.Password, "run", 8, secs)
			via := runSysbench(b, w, g.addr, "alice", aliceToken, "run", 8, secs)
			b.Logf("%s, 8 threads, %ds: direct %.0f tps, via sluice %.0f tps (%.2fx)", w, secs, direct, via, via/direct)
			b.ReportMetric(via/direct, w+"_ratio")
		}
	}
}

// BenchmarkIdleSessions opens 1,000 idle sessions through the gateway and
// reports the gateway process's memory per session (heap and RSS deltas;
// the raw test clients are in the same process, so this is an upper bound).
func BenchmarkIdleSessions(b *testing.B) {
	g := startGateway(b, gatewayOptions{quiet: true})
	const n = 1000
	for range b.N {
		runtime.GC()
		heap0, rss0 := memNow()
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := rawLogin(g.addr, "alice", aliceToken)
			if err != nil {
				b.Fatalf("session %d: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		time.Sleep(500 * time.Millisecond)
		runtime.GC()
		heap1, rss1 := memNow()
		perHeap := float64(heap1-heap0) / n
		perRSS := float64(rss1-rss0) / n
		b.Logf("%d idle sessions: heap +%.1f KiB/session, RSS +%.1f KiB/session", n, perHeap/1024, perRSS/1024)
		b.ReportMetric(perHeap/1024, "heap_KiB/session")
		b.ReportMetric(perRSS/1024, "rss_KiB/session")
		for _, c := range conns {
			c.Close()
		}
	}
}

func memNow() (heap, rss uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap = ms.HeapInuse + ms.StackInuse
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				rss = kb * 1024
			}
		}
	}
	return heap, rss
}

// rawLogin is a minimal client: greeting, caching_sha2 fast auth, OK. It
// keeps almost nothing per connection, so the memory measured is the
// gateway's.
func rawLogin(addr, user, token string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var seq uint8
	r := newPacketReader(c, 1<<20, &seq)
	greet, err := r.Read()
	if err != nil {
		c.Close()
		return nil, err
	}
	// version NUL, id(4), scramble part 1 (8), 0, caps(2), coll, status(2), caps(2), len, 10 zero, part 2.
	v := bytes.IndexByte(greet[1:], 0) + 2
	if v < 2 || len(greet) < v+4+8+1+2+1+2+2+1+10+12 {
		c.Close()
		return nil, errMalformed
	}
	scramble := append([]byte{}, greet[v+4:v+12]...)
	p2 := v + 12 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	scramble = append(scramble, greet[p2:p2+12]...)
	auth := gm.CalcCachingSha2Password(scramble, []byte(token))
	var resp []byte
	resp = binary.LittleEndian.AppendUint32(resp, gm.CLIENT_PROTOCOL_41|gm.CLIENT_SECURE_CONNECTION|gm.CLIENT_PLUGIN_AUTH|gm.CLIENT_DEPRECATE_EOF)
	resp = append(resp, 0, 0, 0, 1, 45)
	resp = append(resp, make([]byte, 23)...)
	resp = append(resp, user...)
	resp = append(resp, 0, byte(len(auth)))
	resp = append(resp, auth...)
	resp = append(resp, gm.AUTH_CACHING_SHA2_PASSWORD...)
	resp = append(resp, 0)
	w := newPacketWriter(c, &seq)
	if err := w.Write(resp); err != nil {
		c.Close()
		return nil, err
	}
	if err := w.Flush(); err != nil {
		c.Close()
		return nil, err
	}
	for {
		p, err := r.Read()
		if err != nil {
			c.Close()
			return nil, err
		}
		switch {
		case len(p) > 0 && p[0] == hdrOK:
			return c, nil
		case len(p) > 0 && p[0] == hdrErr:
			c.Close()
			e, _ := parseErr(p)
			return nil, fmt.Errorf("login refused: %v", e)
		}
	}
}

var _ = context.Background
