package replay

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/sluice-gw/sluice/session"
)

// ExportCast writes the recording of rec as an asciicast v2 file: for a
// terminal session its recorded cast, for a database session a generated
// transcript of its query log, with the recorded timing. It streams: the
// recording is never held whole in memory.
func ExportCast(w io.Writer, dataDir string, rec session.Record) error {
	s, err := Open(dataDir, rec)
	if err != nil {
		return err
	}
	defer s.Close()
	return WriteCast(w, s)
}

// WriteCast writes a Stream as asciicast v2.
func WriteCast(w io.Writer, s Stream) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s.Header()); err != nil {
		return fmt.Errorf("write cast header: %w", err)
	}
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := enc.Encode(ev); err != nil {
			return fmt.Errorf("write cast: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write cast: %w", err)
	}
	return nil
}
