package testenv

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A start-up that fails because the port was taken is retried on another
// port; any other failure is returned at once.
func TestStartOnFreePortRetriesOnlyTakenPorts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	launch := func(script string, ports *[]int) func(int) (*proc, error) {
		logPath := filepath.Join(t.TempDir(), "log")
		return func(port int) (*proc, error) {
			*ports = append(*ports, port)
			if len(*ports) == 1 {
				return startProc(nil, baseEnv(t.TempDir()), logPath, syscall.SIGKILL, "/bin/sh", "-c", script)
			}
			return startProc(nil, baseEnv(t.TempDir()), logPath, syscall.SIGKILL, "/bin/sh", "-c", "exec sleep 60")
		}
	}
	notReady := errors.New("not listening")
	readyAfterFirst := func(ports *[]int) func(context.Context) error {
		return func(context.Context) error {
			if len(*ports) == 1 {
				return notReady
			}
			return nil
		}
	}

	var ports []int
	p, err := startOnFreePort(ctx, "fake", syscall.SIGKILL,
		launch("echo 'could not bind: Address already in use' >&2; exit 1", &ports), readyAfterFirst(&ports))
	if err != nil {
		t.Fatalf("taken port not retried: %v", err)
	}
	defer p.stop(syscall.SIGKILL, time.Second)
	if len(ports) != 2 {
		t.Fatalf("%d attempts, want 2", len(ports))
	}

	ports = nil
	_, err = startOnFreePort(ctx, "fake", syscall.SIGKILL,
		launch("echo 'FATAL: bad config' >&2; exit 1", &ports), readyAfterFirst(&ports))
	if err == nil || !strings.Contains(err.Error(), "bad config") || len(ports) != 1 {
		t.Fatalf("other failure: err=%v after %d attempts; want the log tail after 1", err, len(ports))
	}
}
