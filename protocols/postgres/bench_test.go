package postgres_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gw/sluice/config"
)

// The in-process benchmarks mirror pgbench -S (one indexed point select per
// transaction) so `go test -bench -cpuprofile` shows where the gateway's CPU
// goes per transaction. Client, gateway and Postgres share the machine, as
// in production on a small box; compare the direct leg for the baseline.
//
//	go test -run XXX -bench Gateway -cpuprofile cpu.out ./protocols/postgres

const benchSelect = "SELECT balance FROM users WHERE id = $1"

func benchPointSelects(b *testing.B, dsn string, mode string) {
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(4) // 4 x GOMAXPROCS clients: enough to keep the relay busy
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := pgconn.Connect(ctx, dsn)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close(ctx)
		if mode == "prepared" {
			if _, err := c.Prepare(ctx, "sel", benchSelect, nil); err != nil {
				b.Error(err)
				return
			}
		}
		for pb.Next() {
			id := strconv.FormatInt(1+next.Add(1)%5000, 10)
			var err error
			switch mode {
			case "simple":
				_, err = c.Exec(ctx, "SELECT balance FROM users WHERE id = "+id).ReadAll()
			case "extended":
				_, err = c.ExecParams(ctx, benchSelect, [][]byte{[]byte(id)}, nil, nil, nil).Close()
			case "prepared":
				_, err = c.ExecPrepared(ctx, "sel", [][]byte{[]byte(id)}, nil, nil).Close()
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// plainUpstream makes the gateway's upstream leg plaintext, as the direct
// leg is: otherwise the comparison measures TLS, not the relay.
func plainUpstream(c *config.Config) { c.Targets[0].Upstream.TLS = config.UpstreamTLS{Mode: "disable"} }

func BenchmarkGateway(b *testing.B) {
	plain := startGateway(b, "", plainUpstream)
	masked := startGateway(b, guardedYAML, plainUpstream)
	for _, mode := range []string{"simple", "extended", "prepared"} {
		b.Run("direct/"+mode, func(b *testing.B) {
			benchPointSelects(b, pg.URL(pg.User, pg.Password, "", "disable"), mode)
		})
		b.Run("sluice/"+mode, func(b *testing.B) {
			benchPointSelects(b, plain.dsn("alice", aliceToken, ""), mode)
		})
		b.Run("sluice-policy/"+mode, func(b *testing.B) {
			benchPointSelects(b, masked.dsn("alice", aliceToken, ""), mode)
		})
	}
}
