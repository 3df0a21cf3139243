package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestThousandIdleSessionsAllAnswer opens 1,000 sessions, leaves them idle,
// then queries each. It caught a stall: pgconn's background reader, left
// running at Hijack under load, swallowed the first upstream response
// (fixed by SyncConn before Hijack).
func TestThousandIdleSessionsAllAnswer(t *testing.T) {
	g := startGateway(t, "")
	conns := make([]*pgconn.PgConn, 1000)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := pgconn.Connect(ctx, g.dsn("alice", aliceToken, ""))
			if err != nil {
				t.Errorf("session %d: %v", i, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.Background())
			}
		}
	}()
	if t.Failed() {
		return
	}
	time.Sleep(time.Second)
	for i, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		res, err := c.Exec(ctx, "SELECT 1").ReadAll()
		cancel()
		if err != nil || len(res) != 1 || string(res[0].Rows[0][0]) != "1" {
			t.Fatalf("idle session %d did not answer: %v", i, err)
		}
	}
}
