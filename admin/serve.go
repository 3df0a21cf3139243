package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// errEOF is an empty request body.
var errEOF = io.EOF

// Shutdown and request limits of the admin listener.
const (
	shutdownGrace     = 5 * time.Second
	readHeaderTimeout = 10 * time.Second
)

// Serve listens on addr and serves h until ctx is done, then shuts down
// gracefully (in-flight requests get a few seconds).
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin API: listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, h)
}

// ServeListener is Serve on an open listener (tests and socket activation).
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: time.Minute}
	// The shutdown goroutine is owned by this call: it ends when ctx is done
	// or when Serve returns on its own (stopped closes).
	stopped := make(chan struct{})
	shutdownDone := make(chan error, 1)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer cancel()
			shutdownDone <- srv.Shutdown(sctx)
		case <-stopped:
			shutdownDone <- nil
		}
	}()
	err := srv.Serve(ln)
	close(stopped)
	serr := <-shutdownDone
	if errors.Is(err, http.ErrServerClosed) {
		if serr != nil {
			return fmt.Errorf("admin API: shutdown: %w", serr)
		}
		return nil
	}
	return fmt.Errorf("admin API: %w", err)
}
