package policy

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// found returns the matched substrings.
func found(det detector, s string) []string {
	var out []string
	for _, sp := range det(nil, []byte(s)) {
		out = append(out, s[sp.start:sp.end])
	}
	return out
}

func jwtOf(header string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(`{"sub":"1"}`)) + ".c2lnbmF0dXJl"
}

var pemKeyBlock = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"

func TestDetectors(t *testing.T) {
	jwt := jwtOf(`{"alg":"HS256","typ":"JWT"}`)
	cases := []struct {
		name string
		in   string
		want []string
	}{
		{"email", "contact alice.b+x@mail.example.com now", []string{"alice.b+x@mail.example.com"}},
		{"email", "a@b.co and c@d.org.", []string{"a@b.co", "c@d.org"}},
		{"email", "user@localhost", nil},
		{"email", "@example.com", nil},
		{"email", "x@y.1", nil},
		{"email", "no at sign", nil},
		{"credit_card", "card 4111 1111 1111 1111 exp", []string{"4111 1111 1111 1111"}},
		{"credit_card", "4111-1111-1111-1111", []string{"4111-1111-1111-1111"}},
		{"credit_card", "5500005555555559", []string{"5500005555555559"}},
		{"credit_card", "4111111111111112", nil},     // Luhn fails
		{"credit_card", "order 1234567890123", nil},  // Luhn fails
		{"credit_card", "41111111111111111111", nil}, // too long
		{"credit_card", "v1.4111111111111111", nil},  // part of a version string
		{"credit_card", "id 42", nil},
		{"aws_access_key", "key=AKIAIOSFODNN7EXAMPLE;", []string{"AKIAIOSFODNN7EXAMPLE"}},
		{"aws_access_key", "ASIAY34FZKBOKMUTVV7A", []string{"ASIAY34FZKBOKMUTVV7A"}},
		{"aws_access_key", "XAKIAIOSFODNN7EXAMPLE", nil},
		{"aws_access_key", "AKIAIOSFODNN7EXAMPL", nil},
		{"aws_access_key", "AKIAIOSFODNN7EXAMPLEX", nil},
		{"aws_secret_key", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", []string{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
		{"aws_secret_key", "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", []string{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
		{"aws_secret_key", "commit wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", nil},  // no context
		{"aws_secret_key", "secret da39a3ee5e6b4b0d3255bfef95601890afd80709", nil},  // sha1 hex
		{"aws_secret_key", "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX", nil}, // 41 chars
		{"private_key", "key:\n" + pemKeyBlock + "\ntrailer", []string{pemKeyBlock}},
		{"private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", []string{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk"}},
		{"private_key", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", nil},
		{"private_key", "-----BEGIN PUBLIC KEY-----", nil},
		{"jwt", "Bearer " + jwt + " ok", []string{jwt}},
		{"jwt", jwtOf(`{"typ":"JWT"}`), nil},   // no alg
		{"jwt", "eyJub3QganNvbg.e30.sig", nil}, // header not JSON
		{"jwt", "eyJhbGciOiJIUzI1NiJ9", nil},   // one part
		{"iban", "pay GB82 WEST 1234 5698 7654 32 today", []string{"GB82 WEST 1234 5698 7654 32"}},
		{"iban", "DE89370400440532013000", []string{"DE89370400440532013000"}},
		{"iban", "DE89370400440532013001", nil}, // mod-97 fails
		{"iban", "GB82WEST", nil},
		{"iban", "ORDER12345678901234", nil},
	}
	for _, c := range cases {
		got := found(detectorByName[c.name], c.in)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestDetectInRows(t *testing.T) {
	p := testPolicy(t, config.Policy{Masks: []config.Mask{
		{Detect: []string{"credit_card", "aws_access_key", "private_key", "jwt", "email", "iban"}, Method: "redact"},
	}})
	d := p.CheckSQL(Postgres, alice, "SELECT note, n FROM tickets")
	if d.Mask == nil {
		t.Fatal("detectors need a mask on every result")
	}
	fields := []Field{{Name: "note", Type: TypeText, Size: -1}, {Name: "n", Type: TypeInt, Size: 4}}
	rm := d.Mask.Columns(fields)
	row := [][]byte{[]byte("card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE, mail bob@example.com."), []byte("4111111111111111")}
	names := rm.MaskRow(row)
	if got := string(row[0]); got != "card ****, key ****, mail ****." {
		t.Fatalf("masked %q", got)
	}
	if string(row[1]) != "4111111111111111" {
		t.Fatal("detectors ran on an int column")
	}
	if !slices.Equal(names, []string{"note"}) {
		t.Fatalf("names %v", names)
	}
	clean := [][]byte{[]byte("nothing to see"), []byte("1")}
	if names := rm.MaskRow(clean); len(names) != 0 || string(clean[0]) != "nothing to see" {
		t.Fatalf("clean row changed: %q %v", clean, names)
	}
	// Overlapping detectors (an email inside a PEM block) merge into one span.
	blk := [][]byte{[]byte("x " + strings.Replace(pemKeyBlock, "MIIE", "a@b.co", 1)), nil}
	rm.MaskRow(blk)
	if string(blk[0]) != "x ****" {
		t.Fatalf("overlap: %q", blk[0])
	}
}

func TestDetectNullMethod(t *testing.T) {
	p := testPolicy(t, config.Policy{Masks: []config.Mask{{Detect: []string{"jwt"}, Method: "null"}}})
	rm := p.CheckSQL(Postgres, alice, "SELECT t FROM x").Mask.Columns(textFields("t"))
	row := [][]byte{[]byte("token " + jwtOf(`{"alg":"none"}`))}
	rm.MaskRow(row)
	if row[0] != nil {
		t.Fatalf("got %q, want NULL", row[0])
	}
}

func FuzzDetectors(f *testing.F) {
	for _, s := range []string{"a@b.co", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE", pemKeyBlock,
		jwtOf(`{"alg":"x"}`), "GB82 WEST 1234 5698 7654 32", "aws wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "@", "eyJ..", "-----BEGIN "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, det := range detectorByName {
			for _, sp := range det(nil, []byte(s)) {
				if sp.start < 0 || sp.end > len(s) || sp.start >= sp.end {
					t.Fatalf("%s: bad span %v in %q", name, sp, s)
				}
			}
		}
	})
}
