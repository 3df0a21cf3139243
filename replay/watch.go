package replay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/sluice-gw/sluice/session"
)

// Follow writes a live session's recording to out as it grows: terminal
// output as it was shown, database queries as transcript lines. It reads
// each frame the gateway flushes (listed in the session's chain) and returns
// when the session has ended and everything is shown, or ctx is done.
// get re-reads the index row to learn when the session ends.
func Follow(ctx context.Context, dataDir string, id string, get func(context.Context) (session.Record, error), out io.Writer, poll time.Duration) error {
	rec, err := get(ctx)
	if err != nil {
		return err
	}
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	defer dec.Close()
	f := &follower{dir: filepath.Join(dataDir, filepath.FromSlash(session.Dir(id))), dec: dec, out: out,
		r: newRenderer(rec), files: map[string]*os.File{}}
	defer f.close()
	f.r.banner()
	if rec.Protocol == "postgres" || rec.Protocol == "mysql" {
		f.r.showPrompt(0)
	}
	if err := f.flushText(); err != nil {
		return err
	}
	for {
		entries, err := session.ReadChain(dataDir, id)
		if err != nil {
			return err
		}
		for ; f.seen < len(entries); f.seen++ {
			if err := f.frame(entries[f.seen]); err != nil {
				return err
			}
		}
		if rec.Status != session.StatusActive {
			_, err := fmt.Fprintf(out, "\r\n-- session %s %s\r\n", id, rec.Status)
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		// Read the row before the chain: the final flush precedes the status change.
		if rec, err = get(ctx); err != nil {
			return err
		}
	}
}

type follower struct {
	dir   string
	dec   *zstd.Decoder
	out   io.Writer
	r     *renderer
	files map[string]*os.File
	seen  int
	casts map[string]bool // casts whose header line was skipped
}

func (f *follower) close() {
	for _, fh := range f.files {
		fh.Close()
	}
}

// frame shows one flushed chunk.
func (f *follower) frame(e session.ChainEntry) error {
	if e.File != filepath.Base(e.File) || e.Length < 0 || e.Length > 1<<30 {
		return fmt.Errorf("chain names an invalid chunk %q", e.File)
	}
	fh, ok := f.files[e.File]
	if !ok {
		var err error
		if fh, err = os.Open(filepath.Join(f.dir, e.File)); err != nil {
			return fmt.Errorf("open recording: %w", err)
		}
		f.files[e.File] = fh
	}
	buf := make([]byte, e.Length)
	if _, err := fh.ReadAt(buf, e.Offset); err != nil {
		return fmt.Errorf("read %s: %w", e.File, err)
	}
	data, err := f.dec.DecodeAll(buf, nil)
	if err != nil {
		return fmt.Errorf("decode %s: %w", e.File, err)
	}
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		switch {
		case strings.HasSuffix(e.File, ".cast.zst"):
			if f.casts == nil {
				f.casts = map[string]bool{}
			}
			if !f.casts[e.File] {
				f.casts[e.File] = true // the header
				continue
			}
			ev, err := DecodeCastEvent(line)
			if err == nil && ev.Type == "o" {
				if _, err := io.WriteString(f.out, ev.Data); err != nil {
					return err
				}
			}
		case e.File == session.QueryLogFile:
			if ev, err := DecodeQueryLine(line); err == nil {
				f.r.query(ev)
			}
		case e.File == session.EventLogFile:
			if ev, err := DecodeEventLine(line); err == nil {
				f.r.event(ev)
			}
		}
	}
	return f.flushText()
}

func (f *follower) flushText() error {
	for _, ev := range f.r.take() {
		if _, err := io.WriteString(f.out, ev.Data); err != nil {
			return fmt.Errorf("watch output: %w", err)
		}
	}
	return nil
}
