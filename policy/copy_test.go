package policy

import (
	"testing"

	"github.com/sluice-gw/sluice/config"
)

func TestMaskCopyText(t *testing.T) {
	p := maskPolicy(t, "mask")
	unnamed := func(n int) []Field {
		fs := make([]Field, n)
		for i := range fs {
			fs[i] = Field{Type: TypeText, Size: -1}
		}
		return fs
	}
	cases := []struct {
		sql, in, want string
	}{
		// A star over users without names: every column users.* could hide.
		{"COPY users TO STDOUT", "1\talice@example.com\n", "****\t****\n"},
		{"COPY users (id, email) TO STDOUT", "1\talice@example.com\n", "1\t****@example.com\n"},
		{"COPY (SELECT id, upper(email) FROM users) TO STDOUT", "1\tALICE@X.IO\n", "1\t****\n"},
		{"COPY (SELECT id, email FROM users) TO STDOUT", "1\t\\N\n", "1\t\\N\n"},
		{"COPY (SELECT id, ssn FROM people) TO STDOUT", "7\t12\\t3456789\n", "7\t****6789\n"},
		{"COPY (SELECT id, name FROM orders) TO STDOUT", "1\tbob\n", "1\tbob\n"},
	}
	for _, c := range cases {
		d := p.CheckSQL(Postgres, alice, c.sql)
		rm := d.Mask.Columns(unnamed(2))
		got, _ := rm.MaskCopyText([]byte(c.in))
		if string(got) != c.want {
			t.Errorf("%q: %q -> %q, want %q", c.sql, c.in, got, c.want)
		}
	}
	// Replacement values are escaped again.
	q := testPolicy(t, configWithPartial())
	rm := q.CheckSQL(Postgres, alice, "COPY (SELECT note FROM t) TO STDOUT").Mask.Columns(unnamed(1))
	got, names := rm.MaskCopyText([]byte("abcd\\\\\n")) // the value abcd\
	if string(got) != "****cd\\\\\n" || len(names) != 1 || names[0] != "t.note" {
		t.Errorf("escape: %q %v", got, names)
	}
	var none *RowMasker
	if out, _ := none.MaskCopyText([]byte("x\n")); string(out) != "x\n" {
		t.Fatal("nil masker changed the row")
	}
}

// TestCopyDescribe: a COPY whose columns include a star says what to
// describe for their names; with the names, only the masked column is.
func TestCopyDescribe(t *testing.T) {
	p := maskPolicy(t, "mask")
	for _, c := range []struct{ sql, describe string }{
		{"COPY users TO STDOUT", `SELECT * FROM ONLY "users"`},
		{`COPY public."Users" TO STDOUT`, `SELECT * FROM ONLY "public"."Users"`},
		{"COPY (SELECT * FROM users WHERE id > 3) TO STDOUT", "SELECT * FROM users WHERE id > 3"},
		{"COPY users (id, email) TO STDOUT", ""},             // positions are known
		{"COPY (SELECT id, email FROM users) TO STDOUT", ""}, // positions are known
		{"COPY users TO STDOUT; COPY users TO STDOUT", ""},   // one COPY at a time
		{"COPY users FROM STDIN", ""},
	} {
		d := p.CheckSQL(Postgres, alice, c.sql)
		if got := d.Mask.CopyDescribe(); got != c.describe {
			t.Errorf("%q: CopyDescribe() = %q, want %q", c.sql, got, c.describe)
		}
	}
	d := p.CheckSQL(Postgres, alice, "COPY users TO STDOUT")
	rm := d.Mask.Columns([]Field{{Name: "id", Type: TypeText, Size: -1}, {Name: "email", Type: TypeText, Size: -1}})
	got, names := rm.MaskCopyText([]byte("1\talice@example.com\n"))
	if string(got) != "1\t****@example.com\n" || len(names) != 1 || names[0] != "email" {
		t.Errorf("named COPY columns: %q %v", got, names)
	}
}

func FuzzMaskCopyText(f *testing.F) {
	p := maskPolicy(f, "mask")
	rm := p.CheckSQL(Postgres, alice, "COPY users TO STDOUT").Mask.Columns([]Field{{Type: TypeText}, {Type: TypeText}, {Type: TypeInt, Size: 4}})
	for _, s := range []string{"1\ta\t2\n", "\\N\t\\N\n", "", "\t\t\t\t", "a\\tb\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rm.MaskCopyText(line)
	})
}

func configWithPartial() config.Policy {
	return config.Policy{Masks: []config.Mask{{Columns: []string{"t.note"}, Method: "partial", Keep: 3}}}
}

func TestCopyFormatsThatCannotBeMasked(t *testing.T) {
	p := maskPolicy(t, "mask")
	for sql, blocked := range map[string]bool{
		"COPY users TO STDOUT (FORMAT csv)":                        true,
		"COPY users TO STDOUT WITH CSV HEADER":                     true,
		"COPY (SELECT email FROM users) TO STDOUT (FORMAT binary)": true,
		"COPY orders TO STDOUT (FORMAT csv)":                       true, // *.ssn and secret may be columns of any table
		"COPY (SELECT id FROM users) TO STDOUT (FORMAT csv)":       false,
		"COPY users TO STDOUT (FORMAT text)":                       false,
	} {
		d := p.CheckSQL(Postgres, alice, sql)
		if got := d.Action == Block && d.Rule == "lineage"; got != blocked {
			t.Errorf("%q: %v %q %q, want blocked=%v", sql, d.Action, d.Rule, d.Message, blocked)
		}
	}
	q := testPolicy(t, config.Policy{Masks: []config.Mask{{Columns: []string{"users.email"}, Method: "redact"}}})
	if d := q.CheckSQL(Postgres, alice, "COPY orders TO STDOUT (FORMAT csv)"); d.Action != Allow {
		t.Errorf("orders has nothing masked: %v %q", d.Action, d.Message)
	}
	if d := q.CheckSQL(Postgres, alice, "COPY users TO STDOUT (FORMAT csv)"); d.Action != Block || d.Message != `statement blocked by sluice policy "p": COPY in csv format cannot be masked (use the text format)` {
		t.Errorf("users csv: %v %q", d.Action, d.Message)
	}
}
