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

// shells are programs that run commands read from their stdin.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true,
	"ash": true, "fish": true, "tcsh": true, "csh": true, "busybox": true}

// wrappers run the command that follows them (their own flags skipped).
var wrappers = map[string]bool{"sudo": true, "env": true, "exec": true, "nohup": true, "command": true, "nice": true, "doas": true}

// readsScript reports whether an exec command line is a shell that takes
// its commands from stdin (no -c, no script file): `bash`, `sh -s`,
// `sudo -u x bash -l`. Its stdin is then judged line by line.
func readsScript(command string) bool {
	f := strings.Fields(command)
	i, inWrapper, flagValue := 0, false, false
words:
	for ; i < len(f); i++ {
		w := f[i]
		switch {
		case wrappers[path.Base(w)]:
			inWrapper, flagValue = true, false
		case inWrapper && strings.HasPrefix(w, "-"):
			// A short flag such as sudo's -u may take the next word.
			flagValue = len(w) == 2
		case strings.Contains(w, "=") && !strings.HasPrefix(w, "-"):
			flagValue = false // env assignment
		case flagValue:
			flagValue = false // the flag's value
		default:
			break words
		}
	}
	if i >= len(f) || !shells[path.Base(f[i])] {
		return false
	}
	for _, a := range f[i+1:] {
		if a == "-s" || a == "--" {
			return true
		}
		if !strings.HasPrefix(a, "-") {
			return false // a script file
		}
		if strings.Contains(strings.TrimLeft(a, "-"), "c") && !strings.HasPrefix(a, "--") {
			return false // -c: the command is the exec line itself, already judged
		}
	}
	return true
}
