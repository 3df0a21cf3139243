package ssh

import "testing"

func TestSCPDirection(t *testing.T) {
	for cmd, want := range map[string]string{
		"scp -t -- /tmp/x": "upload", "scp -v -r -d -t -- /tmp": "upload", "scp -f /etc/hosts": "download",
		"/usr/bin/scp -rf x": "download", "scp x y": "", "ls -t": "", "": "",
	} {
		if got := scpDirection(cmd); got != want {
			t.Errorf("scpDirection(%q) = %q, want %q", cmd, got, want)
		}
	}
}

func TestSCPLogFilesInDirs(t *testing.T) {
	stream := "D0755 0 top\nT1 0 1 0\n\x00C0644 5 a.txt\nhello\x00C0600 0 empty\n\x00E\nC0644 3 b\nxyz\x00"
	for _, chunk := range []int{1, 2, 5, len(stream)} {
		var got []map[string]any
		l := newSCPLog("upload", func(kind string, f map[string]any) {
			if kind != "file_transfer" {
				t.Fatalf("event %s %v", kind, f)
			}
			got = append(got, f)
		})
		feedSplit(l.feed, []byte(stream), chunk)
		l.close()
		if len(got) != 3 || got[0]["path"] != "top/a.txt" || got[0]["bytes"] != int64(5) || got[0]["sha256"] != sum([]byte("hello")) ||
			got[1]["path"] != "top/empty" || got[2]["path"] != "b" || got[2]["sha256"] != sum([]byte("xyz")) {
			t.Fatalf("chunk %d: %v", chunk, got)
		}
	}
}

func TestSCPLogRejectsGarbage(t *testing.T) {
	lost := false
	l := newSCPLog("upload", func(kind string, _ map[string]any) { lost = lost || kind == "scp_log_lost" })
	l.feed([]byte("C0644 notanumber x\n"))
	if !lost || !l.broken {
		t.Fatal("a malformed control line was accepted")
	}
}

// FuzzSCPLog feeds arbitrary bytes as a legacy scp stream.
func FuzzSCPLog(f *testing.F) {
	f.Add([]byte("C0644 5 a.txt\nhello\x00"), uint8(3))
	f.Add([]byte("D0755 0 d\nE\nE\nE\n"), uint8(1))
	f.Add([]byte("C0644 99999999999999999999 x\n"), uint8(0))
	f.Add([]byte("\x01scp: error\n\x02fatal\n"), uint8(7))
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		l := newSCPLog("download", nil)
		k := int(split) % (len(b) + 1)
		l.feed(b[:k])
		l.feed(b[k:])
		l.close()
		if len(l.line) > maxSCPLine+len(b) || len(l.dirs) > maxSCPDepth || l.left < 0 {
			t.Fatalf("bounds: line %d dirs %d left %d", len(l.line), len(l.dirs), l.left)
		}
	})
}

func TestReadsScript(t *testing.T) {
	for cmd, want := range map[string]bool{
		"bash": true, "sh -s": true, "/bin/bash -l": true, "sudo -u root bash": true, "env X=1 sh": true,
		"bash -c 'ls'": false, "sh script.sh": false, "bash -lc ls": false, "cat": false, "scp -t /x": false,
		"bash --norc": true, "": false, "sudo": false,
	} {
		if got := readsScript(cmd); got != want {
			t.Errorf("readsScript(%q) = %v, want %v", cmd, got, want)
		}
	}
}
