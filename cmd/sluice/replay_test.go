package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

func TestTerminalKeysRawModeAndRestore(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	keys, restore, ok := terminalKeys(context.Background(), tty)
	if !ok {
		t.Fatal("a pty must be recognised as a terminal")
	}
	raw, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Lflag&(unix.ICANON|unix.ECHO) != 0 {
		t.Fatal("terminal not in raw mode")
	}
	ptmx.Write([]byte(" q")) // no Enter needed in raw mode
	for _, want := range []byte{' ', 'q'} {
		select {
		case k := <-keys:
			if k != want {
				t.Fatalf("key %q, want %q", k, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("key %q not delivered", want)
		}
	}
	restore() // must return although the reader is blocked in Read
	cooked, _ := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if cooked.Lflag&unix.ICANON == 0 {
		t.Fatal("terminal mode not restored")
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if _, _, ok := terminalKeys(context.Background(), r); ok {
		t.Fatal("a pipe is not a terminal: keys must be off")
	}
}
