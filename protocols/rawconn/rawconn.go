// Package rawconn makes relay I/O on TCP connections cheaper for the Go
// scheduler.
//
// A relay does many small reads and writes on non-blocking sockets. Through
// net.Conn each is a scheduler-visible syscall: the goroutine's P is marked
// in-syscall, and a loopback write (which runs the receiver's TCP path and
// wakes it, often for longer than sysmon's 20 us tick) gets its P retaken
// and handed to another OS thread, which must be woken. Measured under
// pgbench through the gateway, those hand-offs and the thread wake-ups
// behind them cost more CPU than the relay's own work.
//
// The sockets are non-blocking (the net package sets O_NONBLOCK), so a
// read or write returns at once, with EAGAIN when it cannot progress. That
// makes it safe to issue them as raw syscalls that keep the P, and to wait
// for readiness through the same netpoller net.Conn uses (syscall.RawConn),
// so deadlines and Close still interrupt a blocked Read or Write.
package rawconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a *net.TCPConn whose Read and Write are raw non-blocking syscalls.
// Everything else (deadlines, Close, addresses) is the TCPConn's.
type Conn struct {
	*net.TCPConn
	raw syscall.RawConn

	// The callbacks handed to raw are bound once, at Wrap: a closure per
	// call would be a heap allocation per read and per write. Their
	// arguments and results live here, one set per direction, each
	// guarded by its own lock (concurrent Reads are allowed by net.Conn).
	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerrno syscall.Errno
	readFn func(fd uintptr) bool

	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
}

// Wrap returns c as a Conn when it is a TCP connection, else c unchanged
// (TLS connections and pipes keep their own I/O; wrap the TCP connection
// beneath a TLS server or client instead).
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	rc := &Conn{TCPConn: tc, raw: raw}
	rc.readFn, rc.writeFn = rc.readOnce, rc.writeOnce
	return rc
}

// readOnce is one read(2); false asks raw to wait for readability.
func (c *Conn) readOnce(fd uintptr) bool {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)))
	c.rn, c.rerrno = int(r), e
	return e != syscall.EAGAIN
}

// writeOnce is one write(2); false asks raw to wait for writability.
func (c *Conn) writeOnce(fd uintptr) bool {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.wbuf[0])), uintptr(len(c.wbuf)))
	c.wn, c.werrno = int(r), e
	return e != syscall.EAGAIN
}

// Read reads up to len(p) bytes, waiting in the netpoller while none are ready.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		c.rbuf = p
		err := c.raw.Read(c.readFn)
		c.rbuf = nil // do not keep the caller's buffer reachable
		n, errno := c.rn, c.rerrno
		switch {
		case err != nil:
			return 0, opError("read", c.TCPConn, err)
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return 0, opError("read", c.TCPConn, os.NewSyscallError("read", errno))
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write writes all of p, waiting in the netpoller while the socket buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	defer func() { c.wbuf = nil }()
	written := 0
	for written < len(p) {
		c.wbuf = p[written:]
		if err := c.raw.Write(c.writeFn); err != nil {
			return written, opError("write", c.TCPConn, err)
		}
		switch errno := c.werrno; {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return written, opError("write", c.TCPConn, os.NewSyscallError("write", errno))
		}
		written += c.wn
	}
	return written, nil
}

// opError shapes err as net.Conn methods do, so callers that test for
// net.ErrClosed, os.ErrDeadlineExceeded or syscall errors keep working.
func opError(op string, c *net.TCPConn, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
