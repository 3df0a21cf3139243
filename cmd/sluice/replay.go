package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/sluice-gw/sluice/replay"
)

func newReplayCmd() *cobra.Command {
	var (
		rf        recordingFlags
		speed     float64
		idleLimit time.Duration
		export    string
	)
	cmd := &cobra.Command{
		Use:   "replay ID [--speed X] [--idle-limit D] [--export cast]",
		Short: "Play a session recording in the terminal, or export it as asciicast v2",
		Long: "Plays a terminal session as recorded, or a database session as a timed transcript.\n" +
			"Keys while playing: space pause/resume, + / - faster/slower, . or n step while paused, q quit.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.source(); err != nil {
				return err
			}
			if export != "" && export != "cast" {
				return usagef("--export: unknown format %q (supported: cast)", export)
			}
			if speed <= 0 {
				return usagef("--speed must be positive")
			}
			if idleLimit < 0 {
				return usagef("--idle-limit must not be negative")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := openReplayStream(ctx, &rf, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			out := cmd.OutOrStdout()
			if export == "cast" {
				return replay.WriteCast(out, s)
			}
			opts := replay.PlayOptions{Speed: speed, IdleLimit: idleLimit}
			if keys, restore, ok := terminalKeys(ctx, os.Stdin); ok {
				defer restore()
				opts.Keys = keys
			}
			err = replay.Play(ctx, s, out, opts)
			fmt.Fprint(out, "\r\n")
			if errors.Is(err, context.Canceled) && cmd.Context().Err() == nil {
				return nil // Ctrl-C
			}
			return err
		},
	}
	rf.register(cmd, true)
	cmd.Flags().Float64Var(&speed, "speed", 1, "playback speed multiplier")
	cmd.Flags().DurationVar(&idleLimit, "idle-limit", 0, "cap pauses between events to this duration (e.g. 2s)")
	cmd.Flags().StringVar(&export, "export", "", "write the recording to stdout instead of playing: cast (asciicast v2)")
	return cmd
}

// openReplayStream finds a recording locally or through the admin API.
func openReplayStream(ctx context.Context, rf *recordingFlags, id string) (replay.Stream, error) {
	if rf.admin != "" {
		c, err := rf.adminClient()
		if err != nil {
			return nil, err
		}
		body, err := c.Cast(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("admin API: %w", err)
		}
		s, err := replay.ReadCast(body)
		if err != nil {
			body.Close()
			return nil, err
		}
		return &closingStream{Stream: s, body: body}, nil
	}
	st, err := rf.openStore()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rec, err := getRecord(ctx, st, id)
	if err != nil {
		return nil, err
	}
	return replay.Open(st.Dir(), rec)
}

// closingStream closes the HTTP body behind a stream.
type closingStream struct {
	replay.Stream
	body io.Closer
}

func (c *closingStream) Close() error { return errors.Join(c.Stream.Close(), c.body.Close()) }

// terminalKeys puts stdin in raw mode when it is a terminal and delivers
// key presses until ctx ends. restore undoes the raw mode and stops the reader.
func terminalKeys(ctx context.Context, in *os.File) (<-chan byte, func(), bool) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, nil, false // not a terminal: play without keys
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO | unix.ISIG
	raw.Iflag &^= unix.IXON | unix.ICRNL
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, nil, false
	}
	keys := make(chan byte, 16)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { // owner: terminalKeys; exits when restore closes stop or ctx ends
		defer close(readerDone)
		defer close(keys)
		var b [16]byte
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			// Poll with a timeout so the reader notices stop without a read
			// blocked forever on the terminal.
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 100)
			if err == unix.EINTR || (err == nil && n == 0) {
				continue
			}
			if err != nil || fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
				return
			}
			m, err := unix.Read(fd, b[:])
			if err != nil || m <= 0 {
				return
			}
			for _, k := range b[:m] {
				select {
				case keys <- k:
				case <-stop:
					return
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	restore := func() {
		close(stop)
		<-readerDone
		unix.IoctlSetTermios(fd, unix.TCSETS, old)
	}
	return keys, restore, true
}
