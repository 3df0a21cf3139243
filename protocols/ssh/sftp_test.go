package ssh

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// sftpPacket frames one SFTP packet: uint32 length, type, fields.
func sftpPacket(typ byte, fields ...any) []byte {
	body := []byte{typ}
	for _, f := range fields {
		switch v := f.(type) {
		case uint32:
			body = binary.BigEndian.AppendUint32(body, v)
		case uint64:
			body = binary.BigEndian.AppendUint64(body, v)
		case string:
			body = binary.BigEndian.AppendUint32(body, uint32(len(v)))
			body = append(body, v...)
		case []byte:
			body = binary.BigEndian.AppendUint32(body, uint32(len(v)))
			body = append(body, v...)
		}
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

type recordedEvent struct {
	kind   string
	fields map[string]any
}

func newTestSFTPLog() (*sftpLog, *[]recordedEvent) {
	var got []recordedEvent
	l := newSFTPLog(nil)
	l.onEvent = func(kind string, fields map[string]any) { got = append(got, recordedEvent{kind, fields}) }
	return l, &got
}

// feedSplit feeds b in chunks of n bytes, as a relay would see it.
func feedSplit(feed func([]byte), b []byte, n int) {
	for len(b) > 0 {
		k := min(n, len(b))
		feed(b[:k])
		b = b[k:]
	}
}

func TestSFTPLogUploadAndDownload(t *testing.T) {
	for _, chunk := range []int{1, 3, 7, 4096} {
		l, got := newTestSFTPLog()
		up := []byte("hello, upload")
		down := []byte("the downloaded file")
		var client, server []byte
		client = append(client, sftpPacket(fxpInit, uint32(3))...)
		client = append(client, sftpPacket(fxpOpen, uint32(1), "/up.txt", uint32(fxfWrite|0x08), uint32(0))...)
		server = append(server, sftpPacket(fxpHandle, uint32(1), "H1")...)
		client = append(client, sftpPacket(fxpWrite, uint32(2), "H1", uint64(0), up[:5])...)
		client = append(client, sftpPacket(fxpWrite, uint32(3), "H1", uint64(5), up[5:])...)
		client = append(client, sftpPacket(fxpClose, uint32(4), "H1")...)
		client = append(client, sftpPacket(fxpOpen, uint32(5), "/down.txt", uint32(0x01), uint32(0))...)
		server = append(server, sftpPacket(fxpHandle, uint32(5), "H2")...)
		client = append(client, sftpPacket(fxpRead, uint32(6), "H2", uint64(0), uint32(32768))...)
		server = append(server, sftpPacket(fxpData, uint32(6), down)...)
		client = append(client, sftpPacket(fxpRead, uint32(7), "H2", uint64(len(down)), uint32(32768))...)
		server = append(server, sftpPacket(fxpStatus, uint32(7), uint32(1))...)
		client = append(client, sftpPacket(fxpClose, uint32(8), "H2")...)
		client = append(client, sftpPacket(fxpRemove, uint32(9), "/gone.txt")...)
		// Interleave as the relay would: each side's bytes in order.
		feedSplit(l.fromClient, client[:len(sftpPacket(fxpInit, uint32(3)))+len(sftpPacket(fxpOpen, uint32(1), "/up.txt", uint32(fxfWrite|0x08), uint32(0)))], chunk)
		client = client[len(sftpPacket(fxpInit, uint32(3)))+len(sftpPacket(fxpOpen, uint32(1), "/up.txt", uint32(fxfWrite|0x08), uint32(0))):]
		feedSplit(l.fromServer, server[:len(sftpPacket(fxpHandle, uint32(1), "H1"))], chunk)
		server = server[len(sftpPacket(fxpHandle, uint32(1), "H1")):]
		openDown := len(sftpPacket(fxpWrite, uint32(2), "H1", uint64(0), up[:5])) + len(sftpPacket(fxpWrite, uint32(3), "H1", uint64(5), up[5:])) +
			len(sftpPacket(fxpClose, uint32(4), "H1")) + len(sftpPacket(fxpOpen, uint32(5), "/down.txt", uint32(0x01), uint32(0)))
		feedSplit(l.fromClient, client[:openDown], chunk)
		feedSplit(l.fromServer, server[:len(sftpPacket(fxpHandle, uint32(5), "H2"))], chunk)
		server = server[len(sftpPacket(fxpHandle, uint32(5), "H2")):]
		client = client[openDown:]
		read1 := len(sftpPacket(fxpRead, uint32(6), "H2", uint64(0), uint32(32768)))
		feedSplit(l.fromClient, client[:read1], chunk)
		feedSplit(l.fromServer, server, chunk)
		feedSplit(l.fromClient, client[read1:], chunk)

		want := []recordedEvent{
			{"file_transfer", map[string]any{"op": "upload", "path": "/up.txt", "bytes": int64(len(up)), "sha256": sum(up)}},
			{"file_transfer", map[string]any{"op": "download", "path": "/down.txt", "bytes": int64(len(down)), "sha256": sum(down)}},
			{"file_transfer", map[string]any{"op": "remove", "path": "/gone.txt"}},
		}
		if len(*got) != len(want) {
			t.Fatalf("chunk %d: got %d events %v, want %v", chunk, len(*got), *got, want)
		}
		for i, w := range want {
			g := (*got)[i]
			if g.kind != w.kind || len(g.fields) != len(w.fields) {
				t.Fatalf("chunk %d event %d: got %v, want %v", chunk, i, g, w)
			}
			for k, v := range w.fields {
				if g.fields[k] != v {
					t.Fatalf("chunk %d event %d field %s: got %v, want %v", chunk, i, k, g.fields[k], v)
				}
			}
		}
	}
}

func TestSFTPLogOutOfOrderWriteHasNoHash(t *testing.T) {
	l, got := newTestSFTPLog()
	l.fromClient(sftpPacket(fxpOpen, uint32(1), "/f", uint32(fxfWrite), uint32(0)))
	l.fromServer(sftpPacket(fxpHandle, uint32(1), "H"))
	l.fromClient(sftpPacket(fxpWrite, uint32(2), "H", uint64(10), "later"))
	l.fromClient(sftpPacket(fxpWrite, uint32(3), "H", uint64(0), "first"))
	l.close()
	if len(*got) != 1 || (*got)[0].fields["sha256"] != nil || (*got)[0].fields["bytes"] != int64(10) {
		t.Fatalf("got %v", *got)
	}
}

func TestSFTPFramerRejectsHugeLength(t *testing.T) {
	var f sftpFramer
	err := f.feed([]byte{0x7f, 0xff, 0xff, 0xff, 1}, func(byte, []byte) { t.Fatal("emitted a packet") })
	if err == nil {
		t.Fatal("a 2 GiB packet length was accepted")
	}
	if f.feed(sftpPacket(fxpInit, uint32(3)), func(byte, []byte) { t.Fatal("emitted after losing sync") }) == nil {
		t.Fatal("the framer recovered sync it cannot have")
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// FuzzSFTPLog feeds arbitrary bytes, split at an arbitrary point, to both
// directions of the transfer log: it must never panic nor grow unbounded.
func FuzzSFTPLog(f *testing.F) {
	f.Add(sftpPacket(fxpOpen, uint32(1), "/f", uint32(fxfWrite), uint32(0)), sftpPacket(fxpHandle, uint32(1), "H"), uint8(3))
	f.Add(sftpPacket(fxpWrite, uint32(2), "H", uint64(0), "data"), sftpPacket(fxpData, uint32(2), "x"), uint8(1))
	f.Add(sftpPacket(fxpRename, uint32(2), "/a", "/b"), sftpPacket(fxpStatus, uint32(2), uint32(0)), uint8(0))
	f.Add([]byte{0, 0, 0, 1, fxpRead}, []byte{0, 0, 0, 0}, uint8(2))
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"), []byte{0x16, 0x03, 0x01, 0x00, 0x05}, uint8(4))
	f.Fuzz(func(t *testing.T, client, server []byte, split uint8) {
		l, _ := newTestSFTPLog()
		k := int(split) % (len(client) + 1)
		l.fromClient(client[:k])
		l.fromServer(server)
		l.fromClient(client[k:])
		l.fromClient(client)
		l.close()
		if len(l.handles) > maxOpenSFTP || len(l.opens) > maxOpenSFTP || len(l.reads) > maxOpenSFTP {
			t.Fatal("tracking maps exceed their bound")
		}
		if len(l.toServer.buf) > maxSFTPBody+4+len(client) || len(l.toClient.buf) > maxSFTPBody+4+len(server) {
			t.Fatal("framer buffer exceeds its bound")
		}
	})
}
