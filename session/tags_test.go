package session

import (
	"reflect"
	"testing"
)

func TestSQLCommenterTags(t *testing.T) {
	cases := []struct {
		sql  string
		want map[string]string
	}{
		{"SELECT 1", nil},
		{"SELECT 1 /* app='billing',route='%2Fusers%2F%3Aid' */", map[string]string{"app": "billing", "route": "/users/:id"}},
		{"/* first='x' */ SELECT 1 /* agent='cursor', traceparent='00-abc-01' */", map[string]string{"agent": "cursor", "traceparent": "00-abc-01"}},
		{"SELECT 1 /* not a tag */", nil},
		{"SELECT 1 /* a='1', broken */", map[string]string{"a": "1"}},
		{"SELECT 1 /* a='unterminated */", nil},
		{"SELECT '/*' /* x='y' */", map[string]string{"x": "y"}},
		{"SELECT 1 /*/", nil}, // the "*/" overlaps the "/*": no comment (panicked)
		{"/*/ x='y' */", map[string]string{"/ x": "y"}},
	}
	for _, c := range cases {
		if got := SQLCommenterTags(c.sql); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.sql, got, c.want)
		}
	}
}

func FuzzSQLCommenterTags(f *testing.F) {
	f.Add("SELECT 1 /* app='billing',route='%2Fusers' */")
	f.Add("/* a=' */")
	f.Add("/**/")
	f.Fuzz(func(t *testing.T, sql string) {
		if tags := SQLCommenterTags(sql); len(tags) > maxTags {
			t.Fatalf("%d tags", len(tags))
		}
	})
}
