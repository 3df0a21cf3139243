package ssh

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"path"
	"strings"
	"sync"
)

// transferPrograms are exec commands that move files over the channel's
// stdin/stdout (legacy scp, rsync, git). Their bytes are not recorded as a
// terminal cast: the session gets a transfer log line instead, with the
// byte counts and the sha256 of each direction's stream.
var transferPrograms = map[string]string{
	"scp":                "scp",
	"rsync":              "rsync",
	"git-upload-pack":    "git-fetch",
	"git-receive-pack":   "git-push",
	"git-upload-archive": "git-archive",
}

// transferOp names the transfer an exec command line performs, or "".
func transferOp(command string) string {
	f := strings.Fields(command)
	if len(f) == 0 {
		return ""
	}
	return transferPrograms[path.Base(f[0])]
}

// streamLog counts and hashes both directions of a transfer exec.
type streamLog struct {
	op, command string

	mu        sync.Mutex
	in, out   int64
	hin, hout hash.Hash
}

func newStreamLog(op, command string) *streamLog {
	return &streamLog{op: op, command: command, hin: sha256.New(), hout: sha256.New()}
}

func (l *streamLog) fromClient(p []byte) {
	l.mu.Lock()
	l.in += int64(len(p))
	l.hin.Write(p)
	l.mu.Unlock()
}

func (l *streamLog) fromServer(p []byte) {
	l.mu.Lock()
	l.out += int64(len(p))
	l.hout.Write(p)
	l.mu.Unlock()
}

func (l *streamLog) fields() map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return map[string]any{
		"op": l.op, "command": l.command,
		"bytes_in": l.in, "bytes_out": l.out,
		"sha256_in":  hex.EncodeToString(l.hin.Sum(nil)),
		"sha256_out": hex.EncodeToString(l.hout.Sum(nil)),
	}
}
