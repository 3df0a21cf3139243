package replay

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// sliceStream is a Stream over fixed events.
type sliceStream struct{ evs []Event }

func (s *sliceStream) Header() Header { return Header{Version: 2, Width: 80, Height: 24} }
func (s *sliceStream) Close() error   { return nil }
func (s *sliceStream) Next() (Event, error) {
	if len(s.evs) == 0 {
		return Event{}, io.EOF
	}
	ev := s.evs[0]
	s.evs = s.evs[1:]
	return ev, nil
}

// lockedBuffer is written by the player and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func events(times ...float64) []Event {
	var out []Event
	for i, t := range times {
		out = append(out, Event{Time: t, Type: "o", Data: string(rune('a' + i))})
	}
	return out
}

func TestPlayHonoursTimingSpeedAndIdleLimit(t *testing.T) {
	evs := append(events(0, 0.2, 0.4), Event{Time: 0.5, Type: "r", Data: "100x30"})
	var out bytes.Buffer
	start := time.Now()
	if err := Play(context.Background(), &sliceStream{evs: evs}, &out, PlayOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 380*time.Millisecond || d > 2*time.Second {
		t.Fatalf("real timing: played in %v, want ~0.4s", d)
	}
	if out.String() != "abc" {
		t.Fatalf("output %q", out.String())
	}
	start = time.Now()
	Play(context.Background(), &sliceStream{evs: events(0, 10, 20)}, io.Discard, PlayOptions{Speed: 4, IdleLimit: 200 * time.Millisecond})
	if d := time.Since(start); d < 90*time.Millisecond || d > time.Second {
		t.Fatalf("speed 4 with idle limit 0.2s: played in %v, want ~0.1s", d)
	}
}

func TestPlayKeys(t *testing.T) {
	keys := make(chan byte)
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Play(context.Background(), &sliceStream{evs: events(0, 0.3, 0.6, 0.9, 60)}, out, PlayOptions{Keys: keys})
	}()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for out.String() != want {
			if time.Now().After(deadline) {
				t.Fatalf("output %q, want %q", out.String(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("a")
	keys <- ' ' // pause
	time.Sleep(500 * time.Millisecond)
	if got := out.String(); got != "a" {
		t.Fatalf("paused player wrote %q", got)
	}
	keys <- '.' // step one event while paused
	waitFor("ab")
	time.Sleep(400 * time.Millisecond)
	if got := out.String(); got != "ab" {
		t.Fatalf("after a step the player must stay paused, wrote %q", got)
	}
	keys <- ' ' // resume
	waitFor("abcd")
	keys <- '+'
	keys <- 'q' // quit during the 59s gap
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("q did not quit")
	}
	if strings.Contains(out.String(), "e") {
		t.Fatal("played past quit")
	}
}

func TestPlayStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := Play(ctx, &sliceStream{evs: events(0, 30)}, io.Discard, PlayOptions{}); err == nil {
		t.Fatal("want ctx error")
	}
}
