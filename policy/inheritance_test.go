package policy

import (
	"strings"
	"testing"
)

// A partition or inheritance child takes its ancestors' masks, through any
// depth, under its own name.
func TestChildrenTakeParentMasks(t *testing.T) {
	p := maskPolicy(t, "mask") // users.email among others
	sub := alice
	sub.Views = NewViews(nil).WithParents([]ParentDef{
		{Schema: "public", Name: "users_2026", ParentSchema: "public", ParentName: "users"},
		{Schema: "archive", Name: "users_2026_q1", ParentSchema: "public", ParentName: "users_2026"},
		{Schema: "public", Name: "orders_2026", ParentSchema: "public", ParentName: "orders"},
	})
	cases := []struct {
		sql    string
		fields []string
		masked []string
	}{
		{"SELECT email, name FROM users_2026", []string{"email", "name"}, []string{"email"}},
		{"SELECT * FROM archive.users_2026_q1", []string{"id", "email"}, []string{"email"}},
		{"SELECT upper(c.email) AS e FROM public.users_2026 c", []string{"e"}, []string{"e"}},
		{"SELECT row_to_json(c) FROM users_2026 c", []string{"row_to_json"}, []string{"row_to_json"}},
		{"SELECT name FROM users_2026", []string{"name"}, nil},
		{"SELECT * FROM orders_2026", []string{"id", "total"}, nil},
	}
	for _, c := range cases {
		d := p.CheckSQL(Postgres, sub, c.sql)
		got := d.Mask.Columns(textFields(c.fields...)).MaskedColumns()
		if d.Action != Allow || strings.Join(got, ",") != strings.Join(c.masked, ",") {
			t.Errorf("%q: %v masked %v, want %v", c.sql, d.Action, got, c.masked)
		}
	}
	// A copy out of a child is laundering like one out of the parent.
	if d := p.CheckSQL(Postgres, sub, "INSERT INTO archive SELECT email FROM users_2026"); d.Action != Block || d.Rule != "lineage" {
		t.Fatalf("laundering from a child: %v %q", d.Action, d.Message)
	}
}
