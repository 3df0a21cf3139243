package listener

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
)

// holdEngine keeps each connection open until the gateway drains.
type holdEngine struct{ live atomic.Int32 }

func (h *holdEngine) Handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	h.live.Add(1)
	defer h.live.Add(-1)
	conn.Write([]byte("hi"))
	<-ctx.Done()
}

func TestServeLimitsAndDrains(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	eng := &holdEngine{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, config.Limits{MaxConnections: 1}, eng, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()

	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(first, buf); err != nil {
		t.Fatalf("first connection not served: %v", err)
	}
	// Over the limit: accepted and closed at once, never handed to the engine.
	second, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := second.Read(buf); err == nil || n != 0 {
		t.Fatalf("second connection over max_connections was served (%d bytes, %v)", n, err)
	}
	if got := eng.live.Load(); got != 1 {
		t.Fatalf("%d handlers live, want 1", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if got := eng.live.Load(); got != 0 {
		t.Fatalf("Serve returned with %d handlers still running", got)
	}
}
