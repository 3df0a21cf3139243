package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// RevocationFile is the revocation list's name inside data_dir. `sluice
// token revoke` writes it (atomically, by rename); a running gateway
// re-reads it when its inode, modification time or size changes, which it
// checks on every gateway-token verification, so a revocation applies to
// the next connection attempt, and every few seconds (WatchRevocations), so
// the gateway can end the sessions already open with a revoked token.
const RevocationFile = "revoked_tokens.json"

// maxRevocationFile bounds what the gateway reads.
const maxRevocationFile = 16 << 20

// RevokedToken is one entry of the revocation list.
type RevokedToken struct {
	ID        string    `json:"jti"`
	RevokedAt time.Time `json:"revoked_at"`
	// Expiry is the token's own expiry when known; the entry is dropped
	// once it has passed, because the token is refused as expired anyway.
	Expiry time.Time `json:"expiry,omitzero"`
}

type revocationList struct {
	Revoked []RevokedToken `json:"revoked"`
}

// revocations is the gateway's cached view of the revocation file.
type revocations struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	inode   uint64
	loaded  bool
	ids     map[string]struct{}
	// gen counts reloads, so a watcher can tell a new set from the last one.
	gen uint64
}

func newRevocations(dataDir string) *revocations {
	if dataDir == "" {
		return &revocations{}
	}
	return &revocations{path: filepath.Join(dataDir, RevocationFile)}
}

// isRevoked reports whether id is on the list, re-reading the file when it
// changed. A missing file is an empty list; an unreadable or corrupt one is
// an error (the caller fails closed).
func (r *revocations) isRevoked(id string) (bool, error) {
	ids, _, err := r.current()
	if err != nil {
		return false, err
	}
	_, ok := ids[id]
	return ok, nil
}

// current returns the listed ids, re-reading the file when it changed, and a
// generation that moves whenever the set may have changed. The map is never
// modified once returned (a change builds a new one), so callers may keep it
// and read it without the lock.
func (r *revocations) current() (map[string]struct{}, uint64, error) {
	if r.path == "" {
		return nil, 0, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if r.ids != nil {
			r.gen++
		}
		r.ids, r.loaded = nil, false
		return nil, r.gen, nil
	case err != nil:
		return nil, r.gen, fmt.Errorf("stat %s: %w", r.path, err)
	}
	// The writer replaces the file by rename, so a new inode is the surest
	// sign of change; mtime and size catch an operator editing it in place.
	ino := inodeOf(fi)
	if !r.loaded || ino != r.inode || !fi.ModTime().Equal(r.modTime) || fi.Size() != r.size {
		list, err := readRevocations(r.path)
		if err != nil {
			r.loaded = false
			return nil, r.gen, err
		}
		ids := make(map[string]struct{}, len(list.Revoked))
		for _, e := range list.Revoked {
			ids[e.ID] = struct{}{}
		}
		r.ids, r.gen = ids, r.gen+1
		r.modTime, r.size, r.inode, r.loaded = fi.ModTime(), fi.Size(), ino, true
	}
	return r.ids, r.gen, nil
}

func readRevocations(path string) (*revocationList, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &revocationList{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("revocation list: %w", err)
	}
	defer f.Close()
	var list revocationList
	// A file over the bound decodes as truncated JSON: an error, fail closed.
	dec := json.NewDecoder(io.LimitReader(f, maxRevocationFile))
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("revocation list %s: %w", path, err)
	}
	return &list, nil
}

// Revoke adds a token id to the revocation list in dataDir. expiry (zero
// when unknown) lets the entry be pruned later. Concurrent revokers are
// serialised by an flock on a lock file; readers never see a partial file
// because it is replaced by rename.
func Revoke(dataDir, id string, expiry, now time.Time) error {
	if id == "" {
		return errors.New("empty token id")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	path := filepath.Join(dataDir, RevocationFile)
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("revocation lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("revocation lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	list, err := readRevocations(path)
	if err != nil {
		return err
	}
	kept := list.Revoked[:0]
	for _, e := range list.Revoked {
		if e.ID == id {
			return nil // already revoked
		}
		if e.Expiry.IsZero() || now.Before(e.Expiry) {
			kept = append(kept, e)
		}
	}
	list.Revoked = append(kept, RevokedToken{ID: id, RevokedAt: now.UTC(), Expiry: expiry.UTC()})
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dataDir, RevocationFile+".tmp*")
	if err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("revocation list: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("revocation list: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	return nil
}

func inodeOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
