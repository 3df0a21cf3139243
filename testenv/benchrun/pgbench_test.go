package main

import (
	"strings"
	"testing"
)

const pgbench15Output = `pgbench (15.10 (Debian 15.10-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 10
query mode: prepared
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 20 s
number of transactions actually processed: 1200000
number of failed transactions: 0 (0.000%)
latency average = 0.133 ms
initial connection time = 8.123 ms
tps = 60012.345678 (without initial connection time)
`

func TestParseTPS(t *testing.T) {
	tps, err := parseTPS([]byte(pgbench15Output))
	if err != nil || tps != 60012.345678 {
		t.Fatalf("parseTPS = %v, %v", tps, err)
	}
	old := "tps = 1234.5 (including connections establishing)\ntps = 1300.25 (excluding connections establishing)\n"
	if tps, err := parseTPS([]byte(old)); err != nil || tps != 1300.25 {
		t.Fatalf("pre-14 output: %v, %v", tps, err)
	}
	if _, err := parseTPS([]byte("pgbench: error: connection to server failed\n")); err == nil {
		t.Fatal("accepted output without a tps line")
	}
	failed := []byte("number of failed transactions: 12 (0.1%)\ntps = 10.0 (without initial connection time)\n")
	if _, err := parseTPS(failed); err == nil {
		t.Fatal("accepted a run with failed transactions")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}, {nil, 0}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func FuzzParseTPS(f *testing.F) {
	f.Add([]byte(pgbench15Output))
	f.Add([]byte("tps = 1e999 (without initial connection time)\n"))
	f.Add([]byte("number of failed transactions: 99999999999999999999999\ntps = 1 (without initial connection time)\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, out []byte) {
		tps, err := parseTPS(out)
		if err == nil && tps < 0 {
			t.Fatalf("negative tps %v", tps)
		}
	})
}

const sysbenchOutput = `SQL statistics:
    queries performed:
        read:                            280000
        other:                           40000
        total:                           320000
    transactions:                        20000  (999.50 per sec.)
    queries:                             320000 (15992.00 per sec.)
    ignored errors:                      0      (0.00 per sec.)
    reconnects:                          0      (0.00 per sec.)
`

func TestParseSysbenchTPS(t *testing.T) {
	tps, err := parseSysbenchTPS([]byte(sysbenchOutput))
	if err != nil || tps != 999.5 {
		t.Fatalf("parseSysbenchTPS = %v, %v", tps, err)
	}
	withErrors := []byte(strings.Replace(sysbenchOutput, "ignored errors:                      0 ", "ignored errors:                      7 ", 1))
	if _, err := parseSysbenchTPS(withErrors); err == nil {
		t.Fatal("accepted a run with ignored errors")
	}
	if _, err := parseSysbenchTPS([]byte("FATAL: unable to connect to MySQL server\n")); err == nil {
		t.Fatal("accepted output without a transactions line")
	}
}

func FuzzParseSysbenchTPS(f *testing.F) {
	f.Add([]byte(sysbenchOutput))
	f.Add([]byte("transactions: 1 (1e400 per sec.)\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, out []byte) {
		tps, err := parseSysbenchTPS(out)
		if err == nil && tps < 0 {
			t.Fatalf("negative tps %v", tps)
		}
	})
}
