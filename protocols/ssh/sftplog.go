package ssh

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// maxOpenSFTP bounds the handles and outstanding requests the transfer log
// follows, so a client cannot grow the gateway's memory without bound.
const maxOpenSFTP = 1024

// sftpFile is one open file handle being followed.
type sftpFile struct {
	path    string
	write   bool
	bytes   int64
	next    int64 // the offset a sequential transfer continues at
	hash    hash.Hash
	ordered bool // every chunk arrived in order, so hash is the file's sha256
}

func (f *sftpFile) add(off int64, data []byte) {
	if off != f.next {
		f.ordered = false
	}
	f.next = off + int64(len(data))
	f.bytes += int64(len(data))
	if f.ordered {
		f.hash.Write(data)
	}
}

// sftpLog turns the relayed SFTP stream into a file-transfer log:
// operation, path, bytes and sha256 per file, instead of the bytes.
// Reads (downloads) hash correctly when chunks arrive in order, which is what
// OpenSSH's sftp and scp do; out-of-order transfers log bytes without a hash.
type sftpLog struct {
	// onEvent receives each log line (the session's event log).
	onEvent func(kind string, fields map[string]any)

	mu       sync.Mutex
	toServer sftpFramer
	toClient sftpFramer
	opens    map[uint32]string    // request id -> path of a pending OPEN
	openW    map[uint32]bool      // request id -> OPEN for writing
	reads    map[uint32]sftpRead  // request id -> pending READ
	handles  map[string]*sftpFile // handle -> open file
	lost     bool                 // logged once when the decoder loses sync
}

type sftpRead struct {
	handle string
	offset int64
}

func newSFTPLog(onEvent func(kind string, fields map[string]any)) *sftpLog {
	return &sftpLog{onEvent: onEvent, opens: map[uint32]string{}, openW: map[uint32]bool{}, reads: map[uint32]sftpRead{}, handles: map[string]*sftpFile{}}
}

func (l *sftpLog) fromClient(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.check(l.toServer.feed(p, l.request))
}

func (l *sftpLog) fromServer(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.check(l.toClient.feed(p, l.response))
}

func (l *sftpLog) check(err error) {
	if err != nil && !l.lost {
		l.lost = true
		l.event("sftp_log_lost", map[string]any{"error": err.Error()})
	}
}

func (l *sftpLog) event(kind string, fields map[string]any) {
	if l.onEvent != nil {
		l.onEvent(kind, fields)
	}
}

func (l *sftpLog) request(typ byte, body []byte) {
	if typ == fxpInit {
		return
	}
	r := sftpReader{b: body}
	id := r.uint32()
	switch typ {
	case fxpOpen:
		path := r.string()
		flags := r.uint32()
		if r.err == nil && len(l.opens) < maxOpenSFTP {
			l.opens[id] = path
			l.openW[id] = flags&fxfWrite != 0
		}
	case fxpRead:
		h := r.bytes()
		off := r.uint64()
		if r.err == nil && len(l.reads) < maxOpenSFTP {
			l.reads[id] = sftpRead{handle: string(h), offset: int64(off)}
		}
	case fxpWrite:
		h := r.bytes()
		off := r.uint64()
		data := r.bytes()
		if f := l.handles[string(h)]; r.err == nil && f != nil {
			f.write = true
			f.add(int64(off), data)
		}
	case fxpClose:
		h := string(r.bytes())
		if f := l.handles[h]; r.err == nil && f != nil {
			delete(l.handles, h)
			l.logFile(f)
		}
	case fxpRemove, fxpMkdir, fxpRmdir:
		path := r.string()
		if r.err == nil {
			l.event("file_transfer", map[string]any{"op": sftpOpName(typ), "path": path})
		}
	case fxpRename:
		from, to := r.string(), r.string()
		if r.err == nil {
			l.event("file_transfer", map[string]any{"op": "rename", "path": from, "to": to})
		}
	}
}

func (l *sftpLog) response(typ byte, body []byte) {
	r := sftpReader{b: body}
	id := r.uint32()
	switch typ {
	case fxpHandle:
		h := r.bytes()
		path, ok := l.opens[id]
		if r.err == nil && ok && len(l.handles) < maxOpenSFTP {
			l.handles[string(h)] = &sftpFile{path: path, write: l.openW[id], hash: sha256.New(), ordered: true}
		}
		delete(l.opens, id)
		delete(l.openW, id)
	case fxpData:
		data := r.bytes()
		rd, ok := l.reads[id]
		delete(l.reads, id)
		if f := l.handles[rd.handle]; r.err == nil && ok && f != nil && !f.write {
			f.add(rd.offset, data)
		}
	case fxpStatus:
		delete(l.opens, id)
		delete(l.openW, id)
		delete(l.reads, id)
	}
}

func (l *sftpLog) logFile(f *sftpFile) {
	op := "download"
	if f.write {
		op = "upload"
	}
	fields := map[string]any{"op": op, "path": f.path, "bytes": f.bytes}
	if f.ordered {
		fields["sha256"] = hex.EncodeToString(f.hash.Sum(nil))
	}
	l.event("file_transfer", fields)
}

// close logs files still open when the channel ended (client killed).
func (l *sftpLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for h, f := range l.handles {
		delete(l.handles, h)
		l.logFile(f)
	}
}

func sftpOpName(typ byte) string {
	switch typ {
	case fxpRemove:
		return "remove"
	case fxpMkdir:
		return "mkdir"
	case fxpRmdir:
		return "rmdir"
	}
	return "unknown"
}
