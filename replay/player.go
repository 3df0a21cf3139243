package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// PlayOptions tune the terminal player.
type PlayOptions struct {
	// Speed multiplies playback speed (default 1).
	Speed float64
	// IdleLimit caps any pause between events (0 = real pauses).
	IdleLimit time.Duration
	// Keys delivers key presses: space pause/resume, + / - faster/slower,
	// . or n step one event while paused, q (or Ctrl-C) quit. Nil = no keys.
	Keys <-chan byte
}

// Speed bounds for + and -.
const (
	minSpeed = 1.0 / 64
	maxSpeed = 64
)

// Play writes the output events of s to out with the recorded timing.
// It returns nil when the recording ends or the user quits, ctx.Err() when
// ctx is cancelled.
func Play(ctx context.Context, s Stream, out io.Writer, opts PlayOptions) error {
	p := &player{ctx: ctx, keys: opts.Keys, speed: opts.Speed}
	if p.speed <= 0 {
		p.speed = 1
	}
	prev := 0.0
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Type != "o" {
			continue
		}
		gap := time.Duration((ev.Time - prev) * float64(time.Second))
		prev = ev.Time
		if opts.IdleLimit > 0 && gap > opts.IdleLimit {
			gap = opts.IdleLimit
		}
		if quit, err := p.wait(gap); quit || err != nil {
			return err
		}
		if _, err := io.WriteString(out, ev.Data); err != nil {
			return fmt.Errorf("replay output: %w", err)
		}
	}
}

type player struct {
	ctx    context.Context
	keys   <-chan byte
	speed  float64
	paused bool
}

// wait sleeps for a recorded gap, scaled by the speed, while handling keys.
// A step while paused ends the wait at once and stays paused.
func (p *player) wait(gap time.Duration) (quit bool, err error) {
	remaining := gap // in recording time
	for {
		if p.paused {
			select {
			case <-p.ctx.Done():
				return true, p.ctx.Err()
			case k, ok := <-p.keys:
				if !ok {
					p.keys, p.paused = nil, false
					continue
				}
				switch k {
				case ' ':
					p.paused = false
				case '.', 'n':
					return false, nil
				case 'q', 0x03:
					return true, nil
				default:
					p.adjust(k)
				}
			}
			continue
		}
		if remaining <= 0 {
			return false, nil
		}
		wall := time.Duration(float64(remaining) / p.speed)
		started := time.Now()
		timer := time.NewTimer(wall)
		select {
		case <-p.ctx.Done():
			timer.Stop()
			return true, p.ctx.Err()
		case <-timer.C:
			return false, nil
		case k, ok := <-p.keys:
			timer.Stop()
			remaining -= time.Duration(float64(time.Since(started)) * p.speed)
			if !ok {
				p.keys = nil
				continue
			}
			switch k {
			case ' ':
				p.paused = true
			case 'q', 0x03:
				return true, nil
			default:
				p.adjust(k)
			}
		}
	}
}

func (p *player) adjust(k byte) {
	switch k {
	case '+', '=':
		p.speed = min(p.speed*2, maxSpeed)
	case '-', '_':
		p.speed = max(p.speed/2, minSpeed)
	}
}
