package mysql

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-gw/sluice/session"
)

// serve runs an established connection until it ends and closes its
// session exactly once.
//
// MySQL is strictly half-duplex: the client sends one command and reads
// its whole response before the next. The relay is therefore one loop
// that reads a command, judges it, forwards it and streams the response
// back; a second party, the session context, ends the loop from outside:
// a kill with interrupt, anything else by closing both connections.
func (e *Engine) serve(st *connState, log *slog.Logger) {
	ctx := st.sess.Context()
	if deadline, ok := e.deps.Auth.SessionDeadline(st.id); ok {
		// identity.max_session_after_expiry: the session ends that long
		// after the identity's token expired.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, deadline, errCredentialExpired)
		defer cancel()
	}
	// Killed or drained: a command in flight hears why.
	stop := context.AfterFunc(ctx, func() { interrupt(st.client.conn, st.up.leg.conn) })
	defer stop()
	sessID := st.sess.ID()
	e.conns.add(st.gwID, &liveConn{identity: st.id.Name, gwID: st.gwID, upstreamID: st.up.threadID,
		kill: func(reason string) { e.deps.Store.Kill(sessID, reason) }})
	defer e.conns.remove(st.gwID)

	active := e.deps.Metrics.ActiveSessions.WithLabelValues(protocolName, e.target.Name)
	active.Inc()
	defer active.Dec()

	err := st.client.writeFlush(appendOK(nil, hdrOK, 0, gm.SERVER_STATUS_AUTOCOMMIT))
	if err == nil {
		err = e.relay(ctx, st)
	}
	status := session.StatusOK
	var killed *session.KilledError
	switch {
	case errors.As(context.Cause(ctx), &killed):
		// The record names the kill's reason, not the I/O error the
		// interruption caused.
		status, err = session.StatusKilled, killed
	case errors.Is(context.Cause(ctx), errCredentialExpired):
		status, err = session.StatusKilled, errCredentialExpired
	case errors.Is(context.Cause(ctx), context.Canceled):
		status, err = session.StatusKilled, errGatewayShutdown
	case err != nil:
		status = session.StatusFailed
		log.Info("session ended with an error", "session", st.sess.ID(), "err", err)
	}
	if cerr := st.sess.Close(status, err); cerr != nil {
		log.Warn("closing session record", "session", st.sess.ID(), "err", cerr)
	}
	e.deps.Metrics.Sessions.WithLabelValues(protocolName, e.target.Name, string(status)).Inc()
}

// relay is the command loop. It returns nil when the client quits or
// disconnects, or when the session ends between commands.
func (e *Engine) relay(ctx context.Context, st *connState) error {
	for {
		if ctx.Err() != nil {
			// Ended between commands: close without a word, as MySQL does
			// with an idle connection it kills (see interrupt for why the
			// read below is not enough).
			return nil
		}
		st.client.startCommand()
		p, err := st.client.r.Read()
		if err != nil {
			if isDisconnect(err) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading client command: %w", err)
		}
		if len(p) == 0 {
			return errors.New("empty command packet")
		}
		e.bytesIn.Add(float64(len(p)))
		if err := e.command(ctx, st, p); err != nil {
			if errors.Is(err, errQuit) {
				return nil
			}
			// The client waits for this command's response: tell it in
			// its own language why there is none (an ERR is valid even
			// mid-result, and takes the exchange's next sequence id)
			// before closing. Either the session was killed, or the
			// upstream went away. If the client is the one gone, this
			// fails harmlessly.
			if awaitsResponse(p[0]) {
				ce := &clientError{code: crServerLost, state: stateGeneral,
					msg: fmt.Sprintf("sluice: lost connection to target %s during the command", e.target.Name)}
				if ctx.Err() != nil {
					ce = endedError(context.Cause(ctx))
				}
				_ = st.client.writeFlush(ce.packet())
			}
			return err
		}
	}
}

// killGrace is how long a killed session may take to tell its client: a
// client that does not read cannot hold the relay longer.
const killGrace = time.Second

// interrupt ends a session's relay from outside (killed or drained). The
// upstream connection closes, which fails whatever a command in flight
// waits for upstream; reads from the client fail at once; writes to it have
// killGrace left, so the relay can still answer a command in flight with
// endedError before Handle closes the client. Deadlines rather than a
// timer: nothing is left to stop when the relay ends first.
//
// The upstream closes first because a reviewed statement clears the
// client's read deadline when its wait ends, which may undo this one. If
// it does, the upstream was already closed, the statement fails upstream,
// and the relay, which reads no new command once ctx is done, ends.
func interrupt(client, up net.Conn) {
	up.Close()
	_ = client.SetWriteDeadline(time.Now().Add(killGrace))
	_ = client.SetReadDeadline(time.Unix(1, 0))
}

// endedError is the ERR a command in flight gets when its session ends
// from outside, as MariaDB words it: ER_SERVER_SHUTDOWN when the gateway
// drains (context.Canceled: Run's context ended), else
// ER_CONNECTION_KILLED naming the reason (killed, a revoked token, past
// identity.max_session_after_expiry).
func endedError(cause error) *clientError {
	if errors.Is(cause, context.Canceled) {
		return &clientError{code: gm.ER_SERVER_SHUTDOWN, state: stateCommLink, fatal: true,
			msg: "Server shutdown in progress: sluice: the gateway is shutting down"}
	}
	reason := "the gateway ended the session"
	var ke *session.KilledError
	switch {
	case errors.As(cause, &ke) && ke.Reason != "":
		reason = ke.Reason
	case errors.Is(cause, errCredentialExpired):
		reason = errCredentialExpired.Error()
	}
	return &clientError{code: erConnectionKilled, state: stateConnectionKilled, fatal: true,
		msg: "Connection was killed: sluice: " + reason}
}

// awaitsResponse reports whether the client reads a response to command
// cmd. An ERR sent after one that has none would answer the next command.
func awaitsResponse(cmd byte) bool {
	switch cmd {
	case gm.COM_QUIT, gm.COM_STMT_CLOSE, gm.COM_STMT_SEND_LONG_DATA:
		return false
	}
	return true
}

// errCredentialExpired ends a session past identity.max_session_after_expiry.
var errCredentialExpired = errors.New("the identity's credential expired and identity.max_session_after_expiry has passed")

// errGatewayShutdown is what a drained session's record says.
var errGatewayShutdown = errors.New("the gateway is shutting down")

// errQuit ends the loop normally (COM_QUIT).
var errQuit = errors.New("client quit")

// command handles one client command. p is only valid until the next
// client read. An error ends the connection; a refused command is an ERR
// packet and a nil error.
func (e *Engine) command(ctx context.Context, st *connState, p []byte) error {
	switch p[0] {
	case gm.COM_QUIT:
		st.up.leg.startCommand()
		_ = st.up.leg.writeFlush(p)
		return errQuit
	case gm.COM_QUERY:
		return e.query(ctx, st, string(p[1:]))
	case gm.COM_STMT_PREPARE:
		return e.prepare(ctx, st, string(p[1:]))
	case gm.COM_STMT_EXECUTE:
		return e.execute(ctx, st, p)
	case gm.COM_STMT_FETCH:
		return e.fetch(st, p)
	case gm.COM_STMT_SEND_LONG_DATA:
		e.longData(st, p)
		return forward(st, p)
	case gm.COM_STMT_CLOSE:
		if len(p) >= 5 {
			delete(st.stmts, binary.LittleEndian.Uint32(p[1:]))
		}
		return forward(st, p)
	case gm.COM_RESET_CONNECTION:
		// The server forgets every prepared statement; so does the gateway.
		clear(st.stmts)
		return e.simple(st, p)
	case gm.COM_INIT_DB:
		return e.initDB(ctx, st, p)
	case gm.COM_PING, gm.COM_STMT_RESET, gm.COM_SET_OPTION, gm.COM_STATISTICS:
		return e.simple(st, p)
	case gm.COM_FIELD_LIST:
		return e.fieldList(st, p)
	case gm.COM_PROCESS_KILL:
		if len(p) < 5 {
			return e.refuseCommand(st, &clientError{code: gm.ER_MALFORMED_PACKET, state: stateGeneral, msg: "Malformed packet"})
		}
		return e.kill(st, killRequest{id: binary.LittleEndian.Uint32(p[1:])}, "KILL "+fmt.Sprint(binary.LittleEndian.Uint32(p[1:])))
	case gm.COM_CHANGE_USER:
		// Switching user would switch Sluice identity mid-session; a new
		// connection is the honest way to do that.
		ce := &clientError{code: erAccessDeniedChangeUser, state: stateAccessDenied, fatal: true,
			msg: "sluice: COM_CHANGE_USER is not supported; open a new connection as the other identity"}
		_ = st.client.writeFlush(ce.packet())
		return errQuit
	}
	return e.refuseCommand(st, &clientError{code: gm.ER_UNKNOWN_COM_ERROR, state: stateCommLink,
		msg: fmt.Sprintf("sluice: command 0x%02x is not supported through the gateway", p[0])})
}

// refuseCommand answers the current command with an ERR; the session
// stays usable.
func (e *Engine) refuseCommand(st *connState, ce *clientError) error {
	if err := st.client.writeFlush(ce.packet()); err != nil {
		return err
	}
	if ce.fatal {
		return errQuit
	}
	return nil
}

// forward sends a command upstream that has no response.
func forward(st *connState, p []byte) error {
	st.up.leg.startCommand()
	return st.up.leg.writeFlush(p)
}

// simple forwards a command whose response is a single packet.
func (e *Engine) simple(st *connState, p []byte) error {
	if err := forward(st, p); err != nil {
		return err
	}
	resp, err := st.up.leg.r.Read()
	if err != nil {
		return fmt.Errorf("reading upstream response: %w", err)
	}
	return st.client.writeFlush(resp)
}

// fieldList relays COM_FIELD_LIST: column definitions up to an EOF (or an
// ERR).
func (e *Engine) fieldList(st *connState, p []byte) error {
	if err := forward(st, p); err != nil {
		return err
	}
	for {
		resp, err := st.up.leg.r.Read()
		if err != nil {
			return fmt.Errorf("reading upstream response: %w", err)
		}
		if err := st.client.w.Write(resp); err != nil {
			return err
		}
		if len(resp) == 0 || resp[0] == hdrErr || isTerminator(resp) {
			return st.client.w.Flush()
		}
	}
}

// initDB judges COM_INIT_DB as the USE statement it is.
func (e *Engine) initDB(ctx context.Context, st *connState, p []byte) error {
	db := string(p[1:])
	if pinned := e.target.Upstream.Database; pinned != "" && db != pinned {
		return e.refuseCommand(st, &clientError{code: gm.ER_DBACCESS_DENIED_ERROR, state: stateSyntaxOrAccess,
			msg: fmt.Sprintf("sluice: target %s is pinned to database %s", e.target.Name, pinned)})
	}
	run := e.judge(ctx, st, "USE `"+strings.ReplaceAll(db, "`", "``")+"`")
	if run.refusal != nil {
		return e.finishRefused(st, run)
	}
	if err := forward(st, p); err != nil {
		e.recordCutOff(st, run, err)
		return err
	}
	if err := e.relayResponse(st, run, nil); err != nil {
		return err
	}
	if run.srvErr == nil {
		st.sub.Database = db
	}
	return nil
}

func isDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}
