package ssh

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"path"
	"strconv"
	"strings"
)

// The legacy scp protocol (`scp -O`, rcp's): the side sending files writes
// control lines ("C0644 <size> <name>\n", "D0755 0 <dir>\n", "E\n",
// "T<times>\n") each followed, for C, by <size> bytes and a NUL. scpLog
// follows that stream (client->server for `scp -t`, server->client for
// `scp -f`) to log one transfer per file without keeping its bytes.

const (
	maxSCPLine  = 4096
	maxSCPDepth = 256
)

var errSCPProtocol = errors.New("scp: stream does not follow the protocol")

type scpLog struct {
	op      string // upload | download
	onEvent func(kind string, fields map[string]any)

	line   []byte
	dirs   []string
	name   string
	left   int64 // file bytes still to come
	size   int64
	h      hash.Hash
	inFile bool
	broken bool
}

// scpDirection returns the op of a legacy scp exec ("scp -t" receives =
// upload, "scp -f" sends = download), or "".
func scpDirection(command string) string {
	f := strings.Fields(command)
	if len(f) == 0 || path.Base(f[0]) != "scp" {
		return ""
	}
	for _, a := range f[1:] {
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		if strings.ContainsRune(a, 't') {
			return "upload"
		}
		if strings.ContainsRune(a, 'f') {
			return "download"
		}
	}
	return ""
}

func newSCPLog(op string, onEvent func(string, map[string]any)) *scpLog {
	return &scpLog{op: op, onEvent: onEvent, h: sha256.New()}
}

// feed follows the sending side's bytes.
func (l *scpLog) feed(p []byte) {
	for len(p) > 0 && !l.broken {
		if l.inFile {
			n := int(min(int64(len(p)), l.left))
			l.h.Write(p[:n])
			l.left -= int64(n)
			p = p[n:]
			if l.left == 0 {
				l.inFile = false
				l.emit()
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.line = append(l.line, p...)
			if len(l.line) > maxSCPLine {
				l.fail()
			}
			return
		}
		l.line = append(l.line, p[:i]...)
		p = p[i+1:]
		line := l.line
		l.line = l.line[:0]
		// The NUL after a file's data (and acks) precede the next line.
		line = bytes.TrimLeft(line, "\x00")
		if len(line) > maxSCPLine {
			l.fail()
			return
		}
		l.control(line)
	}
}

func (l *scpLog) control(line []byte) {
	if len(line) == 0 {
		return
	}
	switch line[0] {
	case 'C', 'D':
		f := strings.SplitN(string(line[1:]), " ", 3)
		if len(f) != 3 {
			l.fail()
			return
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		name := f[2]
		if err != nil || size < 0 || name == "" || strings.Contains(name, "/") {
			l.fail()
			return
		}
		if line[0] == 'D' {
			if len(l.dirs) >= maxSCPDepth {
				l.fail()
				return
			}
			l.dirs = append(l.dirs, name)
			return
		}
		l.name, l.size, l.left = name, size, size
		l.h.Reset()
		if size == 0 {
			l.emit()
			return
		}
		l.inFile = true
	case 'E':
		if len(l.dirs) > 0 {
			l.dirs = l.dirs[:len(l.dirs)-1]
		}
	case 'T', 0x01, 0x02:
		// times, warnings and errors: nothing to log
	default:
		l.fail()
	}
}

func (l *scpLog) emit() {
	if l.onEvent == nil {
		return
	}
	l.onEvent("file_transfer", map[string]any{
		"op": l.op, "path": path.Join(append(append([]string(nil), l.dirs...), l.name)...),
		"bytes": l.size, "sha256": hex.EncodeToString(l.h.Sum(nil)), "protocol": "scp",
	})
}

// close logs a file cut short by the end of the channel.
func (l *scpLog) close() {
	if l.inFile && !l.broken && l.onEvent != nil {
		l.onEvent("file_transfer", map[string]any{"op": l.op, "path": path.Join(append(append([]string(nil), l.dirs...), l.name)...),
			"bytes": l.size - l.left, "incomplete": true, "protocol": "scp"})
	}
	l.inFile = false
}

func (l *scpLog) fail() {
	l.broken = true
	l.line = nil
	if l.onEvent != nil {
		l.onEvent("scp_log_lost", map[string]any{"error": errSCPProtocol.Error()})
	}
}
