package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// The goloop leg answers "would an event loop close the gap?" with a
// measurement instead of an argument. It is the cheapest relay Go can be:
// pgbouncer's design (one thread, level-triggered epoll, read then write
// inline, no per-connection goroutines) with raw syscalls that bypass the
// scheduler entirely. Like gorelay it parses nothing, so goloop vs
// pgbouncer is the floor of the I/O model and sluice vs goloop is what
// parsing, policy, masking and the query log cost on top of that floor.
//
// It is a benchmark reference, not a design for the gateway: the loop
// thread blocks in epoll_wait while holding its P (the runtime cannot see
// a raw syscall), which stalls a garbage collection until the next event
// or the wait's timeout; and sockets are blocking, so one slow peer would
// stall every connection.
const loopFlag = "-internal-goloop"

// loopWaitMillis bounds each epoll_wait, and so how long the held P can
// delay a stop-the-world phase while connections are idle.
const loopWaitMillis = 5

// runGoLoop is the child: it accepts on the inherited listener (fd 3),
// dials upstream for each connection, and hands the pair to the loop.
func runGoLoop(upstream string) error {
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return fmt.Errorf("goloop: inherited listener: %w", err)
	}
	l, err := newEventLoop()
	if err != nil {
		return err
	}
	go l.run()
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("goloop: accept: %w", err)
		}
		u, err := net.Dial("tcp", upstream)
		if err != nil {
			c.Close()
			continue
		}
		if err := l.add(c, u); err != nil {
			fmt.Fprintln(os.Stderr, "goloop:", err)
		}
	}
}

// loopPair is one relayed connection: two blocking sockets.
type loopPair struct{ fds [2]int }

type eventLoop struct {
	ep  int
	buf []byte

	mu     sync.Mutex
	pairs  map[uint32]*loopPair // by id; an event names its pair and side
	nextID uint32
}

func newEventLoop() (*eventLoop, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("goloop: epoll_create1: %w", err)
	}
	return &eventLoop{ep: ep, buf: make([]byte, 16<<10), pairs: map[uint32]*loopPair{}}, nil
}

// add takes over both connections' sockets (as blocking duplicates: the
// loop only reads what epoll reported readable, and writes may block) and
// registers them. Events carry the pair id and side, never a bare fd, so a
// stale event for a closed pair cannot reach a socket reusing its number.
func (l *eventLoop) add(c, u net.Conn) error {
	var p loopPair
	for i, conn := range []net.Conn{c, u} {
		f, err := conn.(*net.TCPConn).File() // a duplicate, in blocking mode
		conn.Close()
		if err != nil {
			if i == 1 {
				syscall.Close(p.fds[0])
			}
			return fmt.Errorf("goloop: socket: %w", err)
		}
		fd, err := syscall.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			if i == 1 {
				syscall.Close(p.fds[0])
			}
			return fmt.Errorf("goloop: dup: %w", err)
		}
		p.fds[i] = fd
	}
	l.mu.Lock()
	l.nextID++
	id := l.nextID
	l.pairs[id] = &p
	l.mu.Unlock()
	for side, fd := range p.fds {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
		*(*uint64)(unsafe.Pointer(&ev.Fd)) = uint64(id)<<1 | uint64(side)
		if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			l.close(id)
			return fmt.Errorf("goloop: epoll_ctl: %w", err)
		}
	}
	return nil
}

func (l *eventLoop) close(id uint32) {
	l.mu.Lock()
	p := l.pairs[id]
	delete(l.pairs, id)
	l.mu.Unlock()
	if p != nil {
		syscall.Close(p.fds[0]) // closing also removes it from the epoll set
		syscall.Close(p.fds[1])
	}
}

// run is the loop: one OS thread, raw syscalls only.
func (l *eventLoop) run() {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(l.ep),
			uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), loopWaitMillis, 0, 0)
		if errno != 0 {
			if errno == syscall.EINTR {
				continue
			}
			fmt.Fprintln(os.Stderr, "goloop: epoll_wait:", errno)
			os.Exit(1)
		}
		if n == 0 {
			runtime.Gosched() // let a pending stop-the-world in
			continue
		}
		for _, ev := range events[:n] {
			key := *(*uint64)(unsafe.Pointer(&ev.Fd))
			id, side := uint32(key>>1), key&1
			l.mu.Lock()
			p := l.pairs[id]
			l.mu.Unlock()
			if p == nil {
				continue // closed earlier in this batch
			}
			if err := l.relay(p.fds[side], p.fds[1-side]); err != nil {
				l.close(id)
			}
		}
	}
}

// relay moves what one readable socket holds to its peer.
func (l *eventLoop) relay(src, dst int) error {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(src), uintptr(unsafe.Pointer(&l.buf[0])), uintptr(len(l.buf)))
	switch {
	case errno == syscall.EINTR || errno == syscall.EAGAIN:
		return nil
	case errno != 0:
		return errno
	case n == 0:
		return errors.New("eof")
	}
	for b := l.buf[:n]; len(b) > 0; {
		w, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(dst), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		b = b[w:]
	}
	return nil
}
