package ssh

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Benchmarks compare the real OpenSSH client straight to sshd against the
// same client through the gateway (recording on), in the same run.
// SLUICE_BENCH_MB sets the transfer size (default 256). SLUICE_BENCH_TARGET
// picks the gateway target: "plain" (default: recording, no policy) or
// "web1" (policy with command rules and content detectors: masking on).

func benchMB() int {
	n := 256
	if v := os.Getenv("SLUICE_BENCH_MB"); v != "" {
		fmt.Sscanf(v, "%d", &n)
	}
	return n
}

func benchTarget() string {
	if v := os.Getenv("SLUICE_BENCH_TARGET"); v != "" {
		return v
	}
	return "plain"
}

func timeRun(b *testing.B, name string, args ...string) time.Duration {
	b.Helper()
	start := time.Now()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%s: %v %s", name, err, out)
	}
	return time.Since(start)
}

func reportRatio(b *testing.B, mb int, direct, via time.Duration) {
	b.ReportMetric(float64(mb)/direct.Seconds(), "direct_MB/s")
	b.ReportMetric(float64(mb)/via.Seconds(), "sluice_MB/s")
	b.ReportMetric(direct.Seconds()/via.Seconds(), "ratio")
}

func BenchmarkBulkExec(b *testing.B) {
	benchBulk(b, "")
}

func BenchmarkBulkPty(b *testing.B) {
	benchBulk(b, "-tt")
}

func benchBulk(b *testing.B, tty string) {
	g := startGateway(b)
	mb := benchMB()
	remote := fmt.Sprintf("head -c %dM /dev/zero", mb)
	directArgs := append(g.sshd.SSHArgs(), g.sshd.User+"@127.0.0.1", remote)
	viaArgs := append(g.sshArgs(g.aliceKey), "alice+"+benchTarget()+"@127.0.0.1", remote)
	if tty != "" {
		directArgs = append([]string{tty}, directArgs...)
		viaArgs = append([]string{tty}, viaArgs...)
	}
	for b.Loop() {
		direct := timeRun(b, "sh", "-c", "ssh "+strings.Join(quoteAll(directArgs), " ")+" >/dev/null")
		via := timeRun(b, "sh", "-c", "ssh "+strings.Join(quoteAll(viaArgs), " ")+" >/dev/null")
		reportRatio(b, mb, direct, via)
	}
}

func BenchmarkScp(b *testing.B) {
	g := startGateway(b)
	mb := benchMB()
	src := filepath.Join(g.dir, "big.bin")
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("head -c %dM /dev/urandom > %s", mb, src)).CombinedOutput(); err != nil {
		b.Fatalf("%v %s", err, out)
	}
	_, port, _ := net.SplitHostPort(g.addr)
	scpDirect := append([]string{"-P", strconv.Itoa(g.sshd.Port)}, g.sshd.CommonArgs()...)
	for b.Loop() {
		direct := timeRun(b, "scp", append(scpDirect, src, g.sshd.User+"@127.0.0.1:"+g.remoteDir+"/direct.bin")...)
		via := timeRun(b, "scp", append(portFlag(g.sshArgs(g.aliceKey), port, "-P"), src, "alice+"+benchTarget()+"@127.0.0.1:"+g.remoteDir+"/via.bin")...)
		reportRatio(b, mb, direct, via)
	}
}
