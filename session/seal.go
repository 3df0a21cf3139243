package session

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Seal is seal.json: the end of a session's hash chain, written at Close.
type Seal struct {
	Version int              `json:"version"`
	ID      string           `json:"id"`
	Status  Status           `json:"status"`
	Closed  time.Time        `json:"closed"`
	Chunks  int              `json:"chunks"`
	Head    string           `json:"head"`  // hex SHA-256, the last chain link
	Files   map[string]int64 `json:"files"` // file name -> size in bytes
	// MAC is hex HMAC-SHA256 of the fields above under recording.seal_key
	// (see sealMAC); empty when no key is configured.
	MAC string `json:"mac,omitempty"`
}

// sealMAC authenticates every field of a seal but MAC itself. The chain
// binds each chunk to Head; without a key anyone able to rewrite the data
// dir could recompute chain and seal, with it they cannot forge the MAC.
func sealMAC(key []byte, s *Seal) string {
	h := hmac.New(sha256.New, key)
	fmt.Fprintf(h, "sluice-seal-v1\x00%d\x00%s\x00%s\x00%d\x00%d\x00%s", s.Version, s.ID, s.Status,
		s.Closed.UnixNano(), s.Chunks, s.Head)
	names := make([]string, 0, len(s.Files))
	for n := range s.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "\x00%s=%d", n, s.Files[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeSeal syncs the chain and writes seal.json atomically. The caller
// holds flushMu and has finished every stream.
func (s *Session) writeSeal(status Status) error {
	if s.chain == nil {
		return nil
	}
	var errs []error
	if err := s.chain.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("sync chain: %w", err))
	}
	if err := s.chain.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close chain: %w", err))
	}
	if len(errs) > 0 || s.failed != nil {
		// A record that failed to write is not sealed: verify reports it.
		return errors.Join(append(errs, s.failed)...)
	}
	seal := Seal{Version: 1, ID: s.record.ID, Status: status, Closed: time.Now().UTC(), Chunks: s.chunks,
		Head: hex.EncodeToString(s.head[:]), Files: map[string]int64{}}
	for _, w := range s.streams {
		seal.Files[w.name] = w.size
	}
	if key := s.store.opts.SealKey; len(key) > 0 {
		seal.MAC = sealMAC(key, &seal)
	}
	data, err := json.MarshalIndent(seal, "", "  ")
	if err != nil {
		return fmt.Errorf("encode seal: %w", err)
	}
	dir := filepath.Join(s.store.dir, s.relDir)
	tmp := filepath.Join(dir, SealFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write seal: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, SealFile)); err != nil {
		return fmt.Errorf("write seal: %w", err)
	}
	return nil
}

// VerifyReport is the outcome of checking one session's hash chain.
type VerifyReport struct {
	ID     string `json:"id"`
	Sealed bool   `json:"sealed"`
	Chunks int    `json:"chunks"`
	Head   string `json:"head,omitempty"`
	// Problems are signs of tampering, truncation or damage.
	Problems []string `json:"problems,omitempty"`
	// Warnings are limits of what could be checked (an unsealed record).
	Warnings []string `json:"warnings,omitempty"`
}

// OK reports whether no problem was found.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

func (r *VerifyReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Verify checks the hash chain of session id against its files, its seal and
// the index. An error means the check itself could not run.
func (st *Store) Verify(ctx context.Context, id string) (*VerifyReport, error) {
	rec, indexSeal, err := st.idx.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return VerifyDir(filepath.Join(st.dir, sessionDir(id)), rec, indexSeal, st.opts.SealKey)
}

// VerifyDir checks the session directory dir of rec. indexSeal is the chain
// head the index holds ("" when unknown); key is recording.seal_key (nil:
// the seal's MAC, if any, is not checked).
func VerifyDir(dir string, rec Record, indexSeal string, key []byte) (*VerifyReport, error) {
	r := &VerifyReport{ID: rec.ID}
	entries, partial, err := readChain(filepath.Join(dir, ChainFile))
	if err != nil {
		return nil, err
	}
	if partial {
		r.problem("%s: last line is incomplete (crash while writing, or truncated)", ChainFile)
	}
	head := chainStart(rec.ID)
	macs := 0                     // chain entries carrying a MAC
	chained := map[string]int64{} // file -> bytes covered by the chain
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for i, e := range entries {
		if e.File == "" || e.File != path.Base(e.File) || strings.ContainsAny(e.File, `/\`) || e.Length < 0 || e.Length > 1<<30 {
			r.problem("chain entry %d names an invalid chunk (%q, %d bytes)", i+1, e.File, e.Length)
			break
		}
		if e.Offset != chained[e.File] {
			r.problem("chain entry %d: %s chunk at offset %d, expected %d (chunks removed or reordered)", i+1, e.File, e.Offset, chained[e.File])
		}
		f, ok := files[e.File]
		if !ok {
			f, err = os.Open(filepath.Join(dir, e.File))
			if err != nil {
				r.problem("%s: cannot open: %v", e.File, err)
				break
			}
			files[e.File] = f
		}
		frame := make([]byte, e.Length)
		if _, err := f.ReadAt(frame, e.Offset); err != nil {
			r.problem("%s: chunk %d at offset %d is missing (file truncated)", e.File, i+1, e.Offset)
			break
		}
		head = chainNext(head, e.File, e.Offset, frame)
		if hex.EncodeToString(head[:]) != e.Link {
			r.problem("%s: chunk %d at offset %d does not match the chain (altered)", e.File, i+1, e.Offset)
			break
		}
		if len(key) > 0 && e.MAC != "" && !hmac.Equal([]byte(e.MAC), []byte(linkMAC(key, rec.ID, e.Link))) {
			r.problem("chain entry %d: MAC does not match (chain rewritten, or written under another key)", i+1)
			break
		}
		if e.MAC != "" {
			macs++
		}
		chained[e.File] = e.Offset + e.Length
		r.Chunks++
	}
	switch {
	case macs > 0 && macs < r.Chunks:
		r.problem("%d of %d chain entries carry no MAC (entries rewritten without the seal key)", r.Chunks-macs, r.Chunks)
	case macs > 0 && len(key) == 0:
		r.Warnings = append(r.Warnings, "the chain's MACs were not checked: no seal key given (recording.seal_key in --config, or $SLUICE_SEAL_KEY)")
	}
	r.Head = hex.EncodeToString(head[:])
	for _, rel := range rec.Files {
		name := path.Base(rel)
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			r.problem("%s: recording file missing", name)
			continue
		}
		if fi.Size() > chained[name] && r.OK() {
			r.problem("%s: %d bytes after the last chained chunk (data appended outside the recorder)", name, fi.Size()-chained[name])
		}
	}
	seal, err := readSeal(filepath.Join(dir, SealFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if rec.Status == StatusActive {
			r.Warnings = append(r.Warnings, "session is still active: not sealed yet")
		} else {
			r.Warnings = append(r.Warnings, "record is not sealed (the gateway stopped or recording failed before Close): a removed tail cannot be detected")
		}
		if len(key) > 0 && macs == 0 && r.Chunks > 0 {
			r.problem("record is not sealed and its chain carries no MAC though a seal key is given (written before recording.seal_key was set, or the chain was rewritten)")
		}
		if indexSeal != "" {
			r.problem("%s is missing but the index holds a seal (seal removed)", SealFile)
		}
	case err != nil:
		r.problem("%s: %v", SealFile, err)
	default:
		r.Sealed = true
		if seal.ID != rec.ID {
			r.problem("%s belongs to session %q", SealFile, seal.ID)
		}
		if seal.Chunks != len(entries) {
			r.problem("seal counts %d chunks, chain has %d (chain truncated or extended)", seal.Chunks, len(entries))
		}
		if subtle.ConstantTimeCompare([]byte(seal.Head), []byte(r.Head)) != 1 && r.OK() {
			r.problem("seal head does not match the chain")
		}
		for name, size := range seal.Files {
			fi, err := os.Stat(filepath.Join(dir, name))
			switch {
			case err != nil:
				r.problem("%s: sealed file missing", name)
			case fi.Size() != size:
				r.problem("%s: size %d, sealed as %d (truncated or extended)", name, fi.Size(), size)
			}
		}
		if indexSeal != "" && indexSeal != seal.Head {
			r.problem("index seal does not match %s", SealFile)
		}
		switch {
		case len(key) > 0 && seal.MAC == "":
			r.problem("%s has no MAC though a seal key is given (sealed before recording.seal_key was set, or the MAC was removed)", SealFile)
		case len(key) > 0 && !hmac.Equal([]byte(seal.MAC), []byte(sealMAC(key, seal))):
			r.problem("%s MAC does not match: the seal was rewritten, or sealed under another key", SealFile)
		case len(key) == 0 && seal.MAC != "":
			r.Warnings = append(r.Warnings, "the seal's MAC was not checked: no seal key given (recording.seal_key in --config, or $SLUICE_SEAL_KEY)")
		}
	}
	return r, nil
}

// readChain reads chain.jsonl. partial reports an incomplete last line.
func readChain(p string) ([]ChainEntry, bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, false, fmt.Errorf("open chain: %w", err)
	}
	defer f.Close()
	var out []ChainEntry
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return out, len(line) > 0, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read chain: %w", err)
		}
		var e ChainEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return out, true, nil
		}
		out = append(out, e)
	}
}

func readSeal(p string) (*Seal, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var s Seal
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("not a seal: %w", err)
	}
	return &s, nil
}

// ReadChain returns a session's chain entries (the frames flushed so far);
// `sluice watch` follows a live session with it.
func ReadChain(dataDir, id string) ([]ChainEntry, error) {
	entries, _, err := readChain(filepath.Join(dataDir, sessionDir(id), ChainFile))
	return entries, err
}

// Dir is the session directory of id, relative to the data dir.
func Dir(id string) string { return sessionDir(id) }
