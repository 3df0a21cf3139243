package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes the gateway itself produces.
const (
	codeInsufficientPrivilege = "42501" // blocked or denied by policy
	codeInvalidPassword       = "28P01"
	codeInvalidAuthorization  = "28000"
	codeProtocolViolation     = "08P01"
	codeConnectionFailure     = "08006"
	codeCannotConnectNow      = "57P03"
	codeFeatureNotSupported   = "0A000"
	codeAdminShutdown         = "57P01"
	codeInternal              = "XX000"
)

// clientError is an error the client may see: severity, SQLSTATE and a
// message. Internal detail stays in err and goes to the log only.
type clientError struct {
	severity string
	code     string
	msg      string
	detail   string
	hint     string
	err      error
}

func (e *clientError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s (%s): %v", e.msg, e.code, e.err)
	}
	return fmt.Sprintf("%s (%s)", e.msg, e.code)
}

func (e *clientError) Unwrap() error { return e.err }

func fatal(code, msg string, err error) *clientError {
	return &clientError{severity: "FATAL", code: code, msg: msg, err: err}
}

func (e *clientError) response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            e.severity,
		SeverityUnlocalized: e.severity,
		Code:                e.code,
		Message:             e.msg,
		Detail:              e.detail,
		Hint:                e.hint,
	}
}

// upstreamConnectError turns a failure to reach or log in to the upstream
// into what the client may see. Server errors such as "database does not
// exist" pass through with their SQLSTATE; anything about the gateway's own
// credentials does not.
func upstreamConnectError(target string, err error) *clientError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) >= 2 && pgErr.Code[:2] == "28":
			return fatal(codeInvalidAuthorization, fmt.Sprintf("sluice: target %q rejected the gateway's credentials; ask the gateway operator", target), err)
		default:
			sev := pgErr.Severity
			if sev == "" {
				sev = "FATAL"
			}
			return &clientError{severity: sev, code: pgErr.Code, msg: pgErr.Message, detail: pgErr.Detail, hint: pgErr.Hint, err: err}
		}
	}
	return fatal(codeConnectionFailure, fmt.Sprintf("sluice: target %q is unreachable", target), err)
}
