package session

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCredentialIDRecorded: the credential id a session was opened with is
// on its record, live and closed, in the index and in the record's JSON;
// a session without one has no credential_id key.
func TestCredentialIDRecorded(t *testing.T) {
	st := openTestStore(t, time.Hour)
	ctx := context.Background()
	withTok := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "ci-deploy", AuthMethod: "gateway-token", CredentialID: "tok-1"}, Recording{})
	static := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice", AuthMethod: "token"}, Recording{})
	check := func(when string) {
		t.Helper()
		r, err := st.Get(ctx, withTok.ID())
		if err != nil || r.CredentialID != "tok-1" {
			t.Fatalf("%s: record %+v %v, want credential tok-1", when, r, err)
		}
		recs, err := st.List(ctx, Filter{Identity: "ci-deploy"})
		if err != nil || len(recs) != 1 || recs[0].CredentialID != "tok-1" {
			t.Fatalf("%s: list %+v %v", when, recs, err)
		}
		recs, err = st.List(ctx, Filter{CredentialID: "tok-1"})
		if err != nil || len(recs) != 1 || recs[0].ID != withTok.ID() {
			t.Fatalf("%s: list by credential: %+v %v", when, recs, err)
		}
		if recs, err = st.List(ctx, Filter{CredentialID: "tok-2"}); err != nil || len(recs) != 0 {
			t.Fatalf("%s: list by another credential: %+v %v", when, recs, err)
		}
	}
	check("live")
	if err := withTok.Close(StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	if err := static.Close(StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	check("closed")

	r, err := st.Get(ctx, withTok.ID())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"credential_id":"tok-1"`) {
		t.Fatalf("record JSON without the credential id: %s", b)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || back.CredentialID != "tok-1" {
		t.Fatalf("record JSON round trip: %+v %v", back, err)
	}
	r, err = st.Get(ctx, static.ID())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(r); r.CredentialID != "" || strings.Contains(string(b), "credential_id") {
		t.Fatalf("record of a static token: %s", b)
	}
}

// oldRow is a session indexed by a release before credential_id.
const oldRow = `INSERT INTO sessions (id, protocol, target, identity, client_addr, start_ns, end_ns, status, queries)
	VALUES ('20250101-000000-00000001', 'postgres', 'appdb', 'alice', '127.0.0.1:1', 1735689600000000000, 1735689660000000000, 'closed', 3)`

// TestOpenIndexOfOlderRelease: a data dir whose index.db predates
// credential_id opens read-only as it is (the column reads as empty), and
// a gateway opening it adds the column, keeping the old rows.
func TestOpenIndexOfOlderRelease(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, indexFile))
	if err != nil {
		t.Fatal(err)
	}
	// The schema as released before credential_id: today's without it.
	const column = "\tcredential_id TEXT NOT NULL DEFAULT '',\n"
	if !strings.Contains(indexSchema, column) {
		t.Fatal("indexSchema no longer has the credential_id line this test removes")
	}
	if _, err := db.Exec(strings.Replace(indexSchema, column, "", 1) + oldRow); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const oldID = "20250101-000000-00000001"
	checkOld := func(st *Store, when string) {
		t.Helper()
		recs, err := st.List(ctx, Filter{})
		if err != nil {
			t.Fatalf("%s: list: %v", when, err)
		}
		var old *Record
		for i := range recs {
			if recs[i].ID == oldID {
				old = &recs[i]
			}
		}
		if old == nil || old.Identity != "alice" || old.Queries != 3 || old.Status != StatusOK || old.CredentialID != "" {
			t.Fatalf("%s: the old row reads %+v", when, recs)
		}
		if r, err := st.Get(ctx, oldID); err != nil || r.ID != oldID {
			t.Fatalf("%s: get: %+v %v", when, r, err)
		}
	}

	// `sluice sessions` before any new gateway ran: read-only, no upgrade.
	ro, err := OpenStore(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of an old index: %v", err)
	}
	checkOld(ro, "read-only")
	if recs, err := ro.List(ctx, Filter{CredentialID: "tok-9"}); err != nil || len(recs) != 0 {
		t.Fatalf("read-only: list by credential in an index without the column: %+v %v", recs, err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	// A new gateway upgrades it.
	for range 2 { // the second open finds the column present
		st, err := OpenStore(dir, Options{FlushInterval: time.Hour})
		if err != nil {
			t.Fatalf("open an old index: %v", err)
		}
		checkOld(st, "upgraded")
		s := openTestSession(t, st, Info{Protocol: "mysql", Target: "shop", Identity: "ci-deploy", CredentialID: "tok-9"}, Recording{})
		if err := s.Close(StatusOK, nil); err != nil {
			t.Fatal(err)
		}
		if r, err := st.Get(ctx, s.ID()); err != nil || r.CredentialID != "tok-9" {
			t.Fatalf("new session in an upgraded index: %+v %v", r, err)
		}
		if recs, err := st.List(ctx, Filter{CredentialID: "tok-9"}); err != nil || len(recs) < 1 || recs[0].ID != s.ID() {
			t.Fatalf("upgraded: list by credential: %+v %v", recs, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
