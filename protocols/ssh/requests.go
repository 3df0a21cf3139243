package ssh

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// Payloads of the channel requests and channel opens the gateway reads
// (RFC 4254). gossh.Unmarshal bounds every length by the payload itself.

type ptyRequest struct {
	Term    string
	Columns uint32
	Rows    uint32
	Width   uint32
	Height  uint32
	Modes   string
}

type windowChange struct {
	Columns uint32
	Rows    uint32
	Width   uint32
	Height  uint32
}

type envRequest struct {
	Name  string
	Value string
}

type execRequest struct {
	Command string
}

type subsystemRequest struct {
	Name string
}

type exitStatus struct {
	Status uint32
}

type exitSignal struct {
	Signal     string
	CoreDumped bool
	Error      string
	Lang       string
}

type directTCPIP struct {
	Host     string
	Port     uint32
	OrigHost string
	OrigPort uint32
}

// maxTermDimension bounds what a client may claim as its terminal size, so
// a recording header or a pty ioctl never sees absurd values.
const maxTermDimension = 10000

func parsePty(b []byte) (ptyRequest, error) {
	var p ptyRequest
	if err := gossh.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("pty-req: %w", err)
	}
	p.Columns, p.Rows = clampDim(p.Columns), clampDim(p.Rows)
	return p, nil
}

func parseWindowChange(b []byte) (windowChange, error) {
	var w windowChange
	if err := gossh.Unmarshal(b, &w); err != nil {
		return w, fmt.Errorf("window-change: %w", err)
	}
	w.Columns, w.Rows = clampDim(w.Columns), clampDim(w.Rows)
	return w, nil
}

func clampDim(v uint32) uint32 { return min(v, maxTermDimension) }

// envAllowed is the environment a client may pass upstream: locale and
// terminal type. Anything else (LD_PRELOAD, PATH, GIT_*) could change what
// an allowed command does, so it is dropped.
func envAllowed(name string) bool {
	return name == "LANG" || name == "TERM" || name == "LC_ALL" || strings.HasPrefix(name, "LC_")
}

// directTCPIPDest renders a direct-tcpip open's destination for the record.
func directTCPIPDest(b []byte) string {
	var d directTCPIP
	if err := gossh.Unmarshal(b, &d); err != nil {
		return "(malformed)"
	}
	return net.JoinHostPort(d.Host, strconv.FormatUint(uint64(d.Port), 10))
}
