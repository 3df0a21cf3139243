package testenv

import (
	"bufio"
	"context"
	"net"
	"os"
	"testing"
	"time"
)

// TestHAProxyForwards checks the benchmark's TCP reference leg end to end:
// bytes both ways through haproxy to an upstream, and its CPU time readable.
func TestHAProxyForwards(t *testing.T) {
	RequireBinary(t, "haproxy", "haproxy")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // line echo upstream
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte("echo " + line))
				}
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := StartHAProxy(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := h.Stop(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(h.Dir); !os.IsNotExist(err) {
			t.Errorf("haproxy dir %s left behind", h.Dir)
		}
	}()
	c, err := net.DialTimeout("tcp", h.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for _, msg := range []string{"one\n", "two\n"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadString('\n')
		if err != nil || got != "echo "+msg {
			t.Fatalf("through haproxy: %q, %v; want %q", got, err, "echo "+msg)
		}
	}
	if _, err := CPUTime(h.Pid()); err != nil {
		t.Fatalf("CPUTime: %v", err)
	}
}

func TestCPUTimeOfMissingProcess(t *testing.T) {
	if _, err := CPUTime(1 << 30); err == nil {
		t.Fatal("CPUTime of a process that does not exist succeeded")
	}
}
