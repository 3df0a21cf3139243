package policy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

func streamPolicy(t testing.TB) *Policy {
	return testPolicy(t, config.Policy{Masks: []config.Mask{
		{Detect: []string{"credit_card", "aws_access_key", "aws_secret_key", "private_key", "jwt"}, Method: "redact"},
	}})
}

const testKey = "-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\r\nQyNTUxOQAAACBexampleexampleexampleexampleexampleexampleAAAA\r\n-----END OPENSSH PRIVATE KEY-----\r\n"

var streamSecrets = []string{
	"AKIAIOSFODNN7EXAMPLE",
	"4111111111111111",
	"4111 1111 1111 1111",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
	"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}

// secretParts are fragments that must never reach the client.
var secretParts = []string{"IOSFODNN7EXAMPLE", "1111111111", "1111 1111 1111", "eyJzdWIiOiJhbGljZSJ9", "K7MDENG/bPxRfiCYEXAMPLEKEY", "QyNTUxOQAAACBexample"}

func TestStreamMaskerAtEverySplit(t *testing.T) {
	p := streamPolicy(t)
	inputs := append([]string{testKey}, streamSecrets...)
	for _, secret := range inputs {
		text := "$ cat creds\r\nvalue: " + secret + "\r\nuser@host:~$ "
		for split := 0; split <= len(text); split++ {
			sm := p.OutputMasker()
			var out bytes.Buffer
			out.Write(sm.Mask([]byte(text[:split])))
			out.Write(sm.Mask([]byte(text[split:])))
			out.Write(sm.Flush())
			got := out.String()
			for _, part := range secretParts {
				if strings.Contains(got, part) {
					t.Fatalf("split %d of %q leaked %q: %q", split, secret, part, got)
				}
			}
			if !strings.HasPrefix(got, "$ cat creds\r\nvalue: ") || !strings.HasSuffix(got, "user@host:~$ ") {
				t.Fatalf("split %d: surrounding text damaged: %q", split, got)
			}
		}
	}
}

func TestStreamMaskerPassesPlainOutputPromptly(t *testing.T) {
	sm := streamPolicy(t).OutputMasker()
	// A prompt ending in a space is emitted at once: nothing to hold.
	if got := string(sm.Mask([]byte("total 8\r\nuser@host:~$ "))); got != "total 8\r\nuser@host:~$ " {
		t.Fatalf("got %q", got)
	}
	// A trailing word waits for more input or a Flush.
	if got := string(sm.Mask([]byte("l"))); got != "" {
		t.Fatalf("echo of a partial word should wait, got %q", got)
	}
	if got := string(sm.Flush()); got != "l" {
		t.Fatalf("flush = %q", got)
	}
	var nilMasker *StreamMasker
	if got := string(nilMasker.Mask([]byte("x"))); got != "x" {
		t.Fatal("nil masker must pass output through")
	}
	if (*Policy)(nil).OutputMasker() != nil || testPolicy(t, config.Policy{}).OutputMasker() != nil {
		t.Fatal("a policy without detectors needs no output masker")
	}
}

func TestStreamMaskerHugeKeyBlockIsSwallowed(t *testing.T) {
	sm := streamPolicy(t).OutputMasker()
	var out bytes.Buffer
	out.Write(sm.Mask([]byte("-----BEGIN RSA PRIVATE KEY-----\n")))
	body := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n", 4000) // > maxHeld
	for i := 0; i < len(body); i += 1000 {
		out.Write(sm.Mask([]byte(body[i:min(i+1000, len(body))])))
	}
	out.Write(sm.Mask([]byte("-----END RSA PRIVATE KEY-----\nafter\n")))
	out.Write(sm.Flush())
	if strings.Contains(out.String(), "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo") {
		t.Fatal("key body leaked")
	}
	if !strings.HasSuffix(out.String(), "after\n") {
		t.Fatalf("output after the key block lost: %q", out.String()[max(0, out.Len()-40):])
	}
}

func FuzzStreamMasker(f *testing.F) {
	p := streamPolicy(f)
	f.Add([]byte(testKey), 7)
	f.Add([]byte("card 4111 1111 1111 1111 ok"), 12)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		if split < 0 || split > len(data) {
			split = len(data) / 2
		}
		sm := p.OutputMasker()
		n := len(sm.Mask(data[:split])) + len(sm.Mask(data[split:])) + len(sm.Flush())
		if n > 4*len(data)+64 {
			t.Fatalf("output grew from %d to %d", len(data), n)
		}
	})
}

func BenchmarkStreamMasker(b *testing.B) {
	p := streamPolicy(b)
	for name, chunk := range map[string][]byte{
		"zeros": make([]byte, 32<<10),
		"text":  bytes.Repeat([]byte("drwxr-xr-x  2 user user 4096 Nov 22 01:02 some-directory-name\r\n"), 512),
	} {
		b.Run(name, func(b *testing.B) {
			sm := p.OutputMasker()
			b.SetBytes(int64(len(chunk)))
			for i := 0; i < b.N; i++ {
				sm.Mask(chunk)
			}
		})
	}
}
