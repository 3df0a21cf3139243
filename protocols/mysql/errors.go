package mysql

import (
	"github.com/sluice-gw/sluice/identity"

	"errors"
	"fmt"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// SQLSTATEs the gateway itself produces.
const (
	stateAccessDenied   = "28000"
	stateSyntaxOrAccess = "42000" // blocked or denied by policy (as ER_TABLEACCESS_DENIED_ERROR)
	stateGeneral        = "HY000"
	stateCommLink       = "08S01"
	// stateConnectionKilled goes with erConnectionKilled, as in MariaDB.
	stateConnectionKilled = "70100"
)

// clientError is an error the client may see as an ERR packet. Internal
// detail stays in err and goes to the log only.
type clientError struct {
	code  uint16
	state string
	msg   string
	err   error
	// fatal errors end the connection after the ERR packet.
	fatal bool
}

func (e *clientError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s (%d/%s): %v", e.msg, e.code, e.state, e.err)
	}
	return fmt.Sprintf("%s (%d/%s)", e.msg, e.code, e.state)
}

func (e *clientError) Unwrap() error { return e.err }

func (e *clientError) packet() []byte { return appendErr(nil, e.code, e.state, e.msg) }

func accessDenied(user, host string, err error) *clientError {
	msg := fmt.Sprintf("Access denied for user '%s'@'%s' (using password: YES)", user, host)
	// The identity package's public refusals say what to do; show them.
	if pub := identity.PublicMessage(err); pub != "" {
		msg += ": sluice: " + pub
	}
	return &clientError{code: gm.ER_ACCESS_DENIED_ERROR, state: stateAccessDenied, fatal: true, err: err, msg: msg}
}

func fatalf(code uint16, state string, err error, format string, args ...any) *clientError {
	return &clientError{code: code, state: state, fatal: true, err: err, msg: fmt.Sprintf(format, args...)}
}

// policyError is the ERR a blocked or denied statement gets. The session
// stays usable.
func policyError(msg string) *clientError {
	return &clientError{code: gm.ER_TABLEACCESS_DENIED_ERROR, state: stateSyntaxOrAccess, msg: msg}
}

// upstreamConnectError turns a failure to reach or log in to the upstream
// into what the client may see. Server errors pass through with their code,
// except anything about the gateway's own credentials.
func upstreamConnectError(target string, err error) *clientError {
	var me *gm.MyError
	if errors.As(err, &me) {
		if me.Code == gm.ER_ACCESS_DENIED_ERROR || me.Code == gm.ER_DBACCESS_DENIED_ERROR && me.Message == "" {
			return fatalf(gm.ER_ACCESS_DENIED_ERROR, stateAccessDenied, err,
				"sluice: target %q rejected the gateway's credentials; ask the gateway operator", target)
		}
		return &clientError{code: me.Code, state: me.State, msg: me.Message, fatal: true, err: err}
	}
	return fatalf(2003, stateGeneral, err, "sluice: target %q is unreachable", target)
}

// erAccessDeniedChangeUser is MySQL's ER_ACCESS_DENIED_CHANGE_USER_ERROR
// (not in go-mysql's table).
const erAccessDeniedChangeUser = 1873

// crServerLost is CR_SERVER_LOST ("Lost connection to server during
// query"), which clients already know how to present.
const crServerLost = 2013

// erConnectionKilled is MariaDB's ER_CONNECTION_KILLED ("Connection was
// killed"), what a killed session's command in flight gets (not in
// go-mysql's table).
const erConnectionKilled = 1927
