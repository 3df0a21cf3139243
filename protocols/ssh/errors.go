package ssh

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// User-facing messages. They name what happened and what to do, never an
// upstream address, credential or internal error.
const (
	msgRecordingUnavailable = "sluice: this session cannot be recorded right now, so it is refused; try again or ask an administrator"
	msgForwardingDenied     = "sluice: port forwarding is not allowed on this target"
	msgAgentDenied          = "sluice: agent forwarding is not allowed"
	msgX11Denied            = "sluice: X11 forwarding is not allowed"
)

// userMessage turns an upstream dial error into text safe for the client.
func userMessage(err error, target string) string {
	var hk *hostKeyError
	var ne net.Error
	switch {
	case errors.As(err, &hk):
		return fmt.Sprintf("sluice: the host key of target %q does not match the gateway's known_hosts; refusing to connect (ask an administrator)", target)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("sluice: target %q did not answer in time", target)
	default:
		return fmt.Sprintf("sluice: cannot connect to target %q", target)
	}
}

// blockedMessage is what a client sees on stderr for a blocked command.
func blockedMessage(rule, msg string) string {
	if msg == "" {
		msg = "blocked by policy"
	}
	if rule != "" && !strings.Contains(msg, rule) {
		return fmt.Sprintf("sluice: %s (rule %s)\r\n", msg, rule)
	}
	return fmt.Sprintf("sluice: %s\r\n", msg)
}
