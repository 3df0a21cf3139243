package session

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func openTestStore(t *testing.T, flush time.Duration) *Store {
	t.Helper()
	st, err := OpenStore(filepath.Join(t.TempDir(), "data"), Options{FlushInterval: flush})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openTestSession(t *testing.T, st *Store, info Info, rec Recording) *Session {
	t.Helper()
	s, err := st.Open(context.Background(), info, rec)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// readLines decompresses a record file and returns its complete lines. It
// stops quietly at a truncated frame, the way a crashed file ends.
func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var out [][]byte
	br := bufio.NewReader(dec)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Logf("read %s stopped: %v", path, err)
			}
			return out
		}
		out = append(out, bytes.TrimSuffix(line, []byte("\n")))
	}
}

func sessionFile(st *Store, s *Session, name string) string {
	return filepath.Join(st.Dir(), Dir(s.ID()), name)
}

func decodeQueries(t *testing.T, lines [][]byte) []QueryEvent {
	t.Helper()
	var out []QueryEvent
	for _, l := range lines {
		var e QueryEvent
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("query line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}
