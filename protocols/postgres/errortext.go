package postgres

import (
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-gw/sluice/policy"
)

// Error and notice texts quote values (`SELECT email::int FROM users`
// fails with the e-mail in the message; a NOT NULL violation's detail is
// the whole row). A response to a statement that reads masked data goes
// through the statement's ErrorMask before the client or the query log
// sees it.

// errorMaskOf is the error mask and statement text of the request a
// pending item stands for.
func errorMaskOf(it pendingItem) (*policy.ErrorMask, string) {
	switch {
	case it.entry != nil:
		return it.entry.decision.Errors, it.entry.statement
	case it.portal != nil && it.portal.stmt != nil:
		return it.portal.stmt.decision.Errors, it.portal.stmt.text
	case it.stmt != nil:
		return it.stmt.decision.Errors, it.stmt.text
	}
	return nil, ""
}

// maskErrorText hides masked values in m's texts, in place.
func maskErrorText(mask *policy.ErrorMask, stmt string, m *pgproto3.ErrorResponse) {
	if mask == nil {
		return
	}
	e := policy.PGError{Code: m.Code, Message: m.Message, Detail: m.Detail, Hint: m.Hint, Where: m.Where,
		Routine: m.Routine, InternalQuery: m.InternalQuery}
	if mask.Postgres(stmt, &e) {
		m.Message, m.Detail, m.Hint, m.Where, m.InternalQuery = e.Message, e.Detail, e.Hint, e.Where, e.InternalQuery
	}
}

// maskNotice applies the error mask of the request in flight to a notice
// (RAISE NOTICE in a function, a warning quoting a value).
func (r *relay) maskNotice(m *pgproto3.NoticeResponse) {
	if it, ok := r.pending.front(); ok {
		mask, stmt := errorMaskOf(it)
		maskErrorText(mask, stmt, (*pgproto3.ErrorResponse)(m))
	}
}
