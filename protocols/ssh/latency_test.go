package ssh

import (
	"bytes"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// echoLatencies types n keys into a remote pty running cat and measures
// the time from each key sent to its echo received.
func echoLatencies(b *testing.B, addr string, cc *gossh.ClientConfig, n int) []time.Duration {
	b.Helper()
	client, err := gossh.Dial("tcp", addr, cc)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	s, err := client.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 24, 80, gossh.TerminalModes{gossh.ECHO: 1}); err != nil {
		b.Fatal(err)
	}
	in, _ := s.StdinPipe()
	out, _ := s.StdoutPipe()
	if err := s.Start("stty raw -echo; echo ready; cat"); err != nil {
		b.Fatal(err)
	}
	if err := readUntil(out, []byte("ready")); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, n)
	one := make([]byte, 1)
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := in.Write([]byte{'a' + byte(i%26)}); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := io.ReadFull(out, one); err != nil {
				b.Fatal(err)
			}
			if one[0] == 'a'+byte(i%26) {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

func readUntil(r io.Reader, want []byte) error {
	var seen []byte
	buf := make([]byte, 256)
	for !bytes.Contains(seen, want) {
		n, err := r.Read(buf)
		if err != nil {
			return err
		}
		seen = append(seen, buf[:n]...)
	}
	return nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkKeystrokeEcho reports the echo latency added by the gateway.
func BenchmarkKeystrokeEcho(b *testing.B) {
	g := startGateway(b)
	signer, err := gossh.ParsePrivateKey(mustRead(b, g.aliceKey))
	if err != nil {
		b.Fatal(err)
	}
	gwHosts, err := knownhosts.New(g.knownHosts)
	if err != nil {
		b.Fatal(err)
	}
	via := &gossh.ClientConfig{User: "alice+" + benchTarget(), Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)}, HostKeyCallback: gwHosts, Timeout: 10 * time.Second}
	for b.Loop() {
		direct := echoLatencies(b, g.sshd.Addr, g.sshd.ClientConfig(), 300)
		through := echoLatencies(b, g.addr, via, 300)
		b.ReportMetric(float64(percentile(direct, 0.5).Microseconds()), "direct_p50_us")
		b.ReportMetric(float64(percentile(direct, 0.99).Microseconds()), "direct_p99_us")
		b.ReportMetric(float64(percentile(through, 0.5).Microseconds()), "sluice_p50_us")
		b.ReportMetric(float64(percentile(through, 0.99).Microseconds()), "sluice_p99_us")
	}
}

func mustRead(b testing.TB, path string) []byte {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
