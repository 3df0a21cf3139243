package session

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func sampleEvent() QueryEvent {
	return QueryEvent{
		Seq: 7, Time: time.Date(2026, 11, 22, 0, 15, 3, 123456789, time.UTC),
		Statement: "SELECT email FROM users WHERE id = $1 /* app='web' */ AND x < 3 && \"q\"\n\t\u2028",
		Params:    []string{"42", "a\x00b"}, Duration: 1500 * time.Microsecond, Rows: 2, Tag: "SELECT 2",
		Decision: "review-approved", Rule: "bulk-writes", Approval: "ap-1", Reviewer: "bob", Reason: "ok",
		Masked: []string{"users.email"}, Tags: map[string]string{"app": "web", "application_name": "psql"},
		Columns: []string{"email"}, Sample: [][]string{{"a***@x.com"}, nil},
	}
}

func TestAppendQueryEventMatchesEncodingJSON(t *testing.T) {
	events := []QueryEvent{
		sampleEvent(),
		{},
		{Statement: "bad \xff utf8 \xe4\xb8", SQLState: "42501", Error: "permission denied", Decision: "block", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))},
	}
	for i, e := range events {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got := appendQueryEvent(nil, &e, false)
		if !bytes.Equal(got, want) {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
	e := sampleEvent()
	var back QueryEvent
	if err := json.Unmarshal(appendQueryEvent(nil, &e, true), &back); err != nil || back.Params != nil || back.Statement != e.Statement {
		t.Fatalf("omit params: %+v %v", back, err)
	}
}

func FuzzAppendQueryEvent(f *testing.F) {
	f.Add("select 1", "42", "k", "v", int64(3), "SELECT 1")
	f.Add("<script>&\u2029\x1f\"\\", "\xff\xfe", "", "\xe4", int64(-1), "")
	f.Fuzz(func(t *testing.T, stmt, param, k, v string, rows int64, tag string) {
		e := QueryEvent{Seq: rows, Time: time.Unix(0, rows).UTC(), Statement: stmt, Params: []string{param}, Rows: rows, Tag: tag,
			Decision: "allow", Tags: map[string]string{k: v}, Columns: []string{k}, Sample: [][]string{{v, param}}}
		want, err := json.Marshal(e)
		if err != nil {
			return // times json cannot encode are out of range for the wire anyway
		}
		if got := appendQueryEvent(nil, &e, false); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkLogQuery(b *testing.B) {
	st, err := OpenStore(b.TempDir(), Options{FlushInterval: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := st.Open(b.Context(), Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(StatusOK, nil)
	e := QueryEvent{Time: time.Now(), Statement: "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
		Params: []string{"48213"}, Duration: 80 * time.Microsecond, Rows: 1, Tag: "SELECT 1", Decision: "allow"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Seq = int64(i)
		if err := s.LogQuery(e); err != nil {
			b.Fatal(err)
		}
	}
}
