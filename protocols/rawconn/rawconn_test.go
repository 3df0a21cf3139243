package rawconn

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// pair returns a wrapped and a plain end of one loopback TCP connection.
func pair(t *testing.T) (wrapped net.Conn, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	w := Wrap(c)
	if _, ok := w.(*Conn); !ok {
		t.Fatalf("Wrap(%T) = %T, want *Conn", c, w)
	}
	t.Cleanup(func() { w.Close(); p.Close() })
	return w, p
}

func TestWrapLeavesOtherConnsAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("a pipe was wrapped")
	}
}

// A transfer far larger than the socket buffers exercises the EAGAIN
// waits on both sides, in both directions at once.
func TestLargeTransferBothWays(t *testing.T) {
	w, p := pair(t)
	data := make([]byte, 8<<20)
	rand.Read(data)

	var wg sync.WaitGroup
	var gotByPeer []byte
	var peerErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		gotByPeer, peerErr = io.ReadAll(io.LimitReader(p, int64(len(data))))
	}()
	go func() {
		defer wg.Done()
		if _, err := p.Write(data); err != nil {
			t.Errorf("peer write: %v", err)
		}
	}()
	n, err := w.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(w, got); err != nil {
		t.Fatalf("ReadFull: %v", err)
	}
	wg.Wait()
	if peerErr != nil {
		t.Fatal(peerErr)
	}
	if !bytes.Equal(got, data) || !bytes.Equal(gotByPeer, data) {
		t.Fatal("data corrupted in transfer")
	}
}

func TestEOFAfterPeerClose(t *testing.T) {
	w, p := pair(t)
	p.Write([]byte("bye"))
	p.Close()
	got, err := io.ReadAll(w)
	if err != nil || string(got) != "bye" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if n, err := w.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF = %d, %v", n, err)
	}
}

func TestReadDeadline(t *testing.T) {
	w, _ := pair(t)
	w.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := w.Read(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past deadline: %v, want ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a timeout net.Error", err)
	}
	// A cleared deadline makes the connection usable again.
	w.SetReadDeadline(time.Time{})
}

func TestWriteDeadlineWhenPeerDoesNotRead(t *testing.T) {
	w, _ := pair(t)
	w.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := w.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write = %d, %v; want ErrDeadlineExceeded", n, err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("Write reported %d bytes written; want what the buffers took", n)
	}
}

func TestCloseInterruptsRead(t *testing.T) {
	w, _ := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	w.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read not interrupted by Close")
	}
}

func TestResetIsASyscallError(t *testing.T) {
	w, p := pair(t)
	// SO_LINGER 0: the peer's close sends RST.
	p.(*net.TCPConn).SetLinger(0)
	p.Close()
	time.Sleep(20 * time.Millisecond)
	_, err := w.Read(make([]byte, 10))
	var se *os.SyscallError
	if !errors.As(err, &se) {
		t.Fatalf("Read after reset: %v (%T), want an *os.SyscallError inside", err, err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("Read after reset: %v, want a *net.OpError for read", err)
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	w, _ := pair(t)
	w.Close()
	if _, err := w.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
}

func TestZeroLengthIO(t *testing.T) {
	w, _ := pair(t)
	if n, err := w.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	if n, err := w.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v", n, err)
	}
}

// The relay reads and writes on every message: neither may allocate.
func TestReadWriteDoNotAllocate(t *testing.T) {
	w, p := pair(t)
	buf := make([]byte, 64)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(p, buf); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(w, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("a round trip through Conn and a plain peer allocates %.1f times", allocs)
	}
}
