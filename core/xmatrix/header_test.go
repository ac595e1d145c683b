package xmatrix

import (
	"strings"
	"testing"
)

const sig = "wR1E4UZ3G3F2knf0x+RNgxQ2N/hCiZ/ZdOktAey0wSvTWc/nHH8YPJaOvRhipwX46AZPntLZhHd0DFjZ7H7iDQ"

var want = Params{Origin: "domain", Destination: "remote.example", Key: "ed25519:1", Sig: sig}

func TestParseHeaderAccepts(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  Params
	}{
		{"spec form", `X-Matrix origin="domain",destination="remote.example",key="ed25519:1",sig="` + sig + `"`, want},
		{"scheme case", `x-matrix origin="domain",destination="remote.example",key="ed25519:1",sig="` + sig + `"`, want},
		{"several spaces after scheme", "X-Matrix   \torigin=\"domain\",destination=\"remote.example\",key=\"ed25519:1\",sig=\"" + sig + "\"", want},
		{"leading and trailing whitespace", "  X-Matrix origin=\"domain\",destination=\"remote.example\",key=\"ed25519:1\",sig=\"" + sig + "\"  \t", want},
		{"spaces around commas", "X-Matrix origin=\"domain\" , destination=\"remote.example\"\t,\tkey=\"ed25519:1\" ,sig=\"" + sig + "\"", want},
		{"spaces around equals", `X-Matrix origin = "domain",destination= "remote.example",key ="ed25519:1",sig="` + sig + `"`, want},
		{"any order", `X-Matrix sig="` + sig + `",key="ed25519:1",destination="remote.example",origin="domain"`, want},
		{"upper-case names", `X-Matrix ORIGIN="domain",Destination="remote.example",KEY="ed25519:1",Sig="` + sig + `"`, want},
		{"bare token values", `X-Matrix origin=domain,destination=remote.example,key=ed25519:1,sig=` + sig, want},
		{"escaped characters", `X-Matrix origin="d\o\m\a\i\n",destination="remote\.example",key="ed25519\:1",sig="` + sig + `"`, want},
		{"unknown parameters ignored", `X-Matrix origin="domain",foo="bar",destination="remote.example",key="ed25519:1",baz=qux,sig="` + sig + `",foo=again`, want},
		{"empty list elements", `X-Matrix ,origin="domain",,destination="remote.example", ,key="ed25519:1",sig="` + sig + `",`, want},
		{"no destination (older senders)", `X-Matrix origin="domain",key="ed25519:1",sig="` + sig + `"`, Params{Origin: "domain", Key: "ed25519:1", Sig: sig}},
		{"quote and backslash unescaped", `X-Matrix origin="a\"b\\c",key="k",sig="s"`, Params{Origin: `a"b\c`, Key: "k", Sig: "s"}},
		{"ipv6 origin with port, bare", `X-Matrix origin=[::1]:8448,key=ed25519:1,sig=s`, Params{Origin: "[::1]:8448", Key: "ed25519:1", Sig: "s"}},
		{"padded signature, bare", `X-Matrix origin=o,key=k,sig=c2ln+/==`, Params{Origin: "o", Key: "k", Sig: "c2ln+/=="}},
		{"comma and space inside quotes", `X-Matrix origin="a, b",key="k",sig="s"`, Params{Origin: "a, b", Key: "k", Sig: "s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHeader(tc.value)
			if err != nil {
				t.Fatalf("ParseHeader(%s): %v", tc.value, err)
			}
			if got != tc.want {
				t.Fatalf("ParseHeader(%s) = %+v, want %+v", tc.value, got, tc.want)
			}
		})
	}
}

func TestParseHeaderRejects(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantMsg string
	}{
		{"empty", "", "scheme is not X-Matrix"},
		{"scheme only", "X-Matrix", "no parameters"},
		{"scheme and spaces only", "X-Matrix   ", "missing origin"},
		{"other scheme", `Bearer origin="domain",key="k",sig="s"`, "scheme is not X-Matrix"},
		{"no space after scheme", `X-Matrixorigin="domain",key="k",sig="s"`, "scheme is not X-Matrix"},
		{"missing origin", `X-Matrix key="k",sig="s"`, "missing origin"},
		{"missing key", `X-Matrix origin="o",sig="s"`, "missing key"},
		{"missing sig", `X-Matrix origin="o",key="k"`, "missing sig"},
		{"empty origin", `X-Matrix origin="",key="k",sig="s"`, "missing origin"},
		{"empty destination", `X-Matrix origin="o",destination="",key="k",sig="s"`, "empty destination"},
		{"duplicate origin", `X-Matrix origin="o",origin="p",key="k",sig="s"`, "origin given twice"},
		{"duplicate sig in other case", `X-Matrix origin="o",key="k",sig="s",SIG="t"`, "sig given twice"},
		{"no equals", `X-Matrix origin "o",key="k",sig="s"`, "want '='"},
		{"no value", `X-Matrix origin=,key="k",sig="s"`, "want a value"},
		{"unterminated quote", `X-Matrix key="k",sig="s",origin="o,x`, "unterminated quoted value"},
		{"backslash at end", `X-Matrix origin="o\`, "backslash at the end"},
		{"missing comma", `X-Matrix origin="o" key="k",sig="s"`, "want ','"},
		{"junk after quoted value", `X-Matrix origin="o"x,key="k",sig="s"`, "want ','"},
		{"control character in quotes", "X-Matrix origin=\"o\x01\",key=\"k\",sig=\"s\"", "control character"},
		{"escaped control character", "X-Matrix origin=\"o\\\x00\",key=\"k\",sig=\"s\"", "control character"},
		{"DEL in quotes", "X-Matrix origin=\"o\x7f\",key=\"k\",sig=\"s\"", "control character"},
		{"newline in bare value", "X-Matrix origin=o\n,key=k,sig=s", "want ','"},
		{"quote inside bare value", `X-Matrix origin=o"x",key=k,sig=s`, "want ','"},
		{"name is not a token", `X-Matrix or(igin="o",key="k",sig="s"`, "want '='"},
		{"starts with equals", `X-Matrix ="o"`, "want a parameter name"},
		{"token68 form", `X-Matrix abc`, "want '='"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHeader(tc.value)
			if err == nil {
				t.Fatalf("ParseHeader(%q) = %+v, want an error", tc.value, got)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) || !strings.HasPrefix(err.Error(), "xmatrix: parse Authorization header: ") {
				t.Fatalf("ParseHeader(%q) error = %q, want one containing %q", tc.value, err, tc.wantMsg)
			}
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	seeds := []string{
		`X-Matrix origin="domain",destination="remote.example",key="ed25519:1",sig="` + sig + `"`,
		`x-matrix  sig=abc , key = ed25519:1 ,origin=[::1]:8448`,
		`X-Matrix origin="a\"b\\c",key="k",sig="s",unknown="x"`,
		`X-Matrix ,,origin="o",,key="k",sig="s",`,
		`X-Matrix origin="o\`,
		`X-Matrix origin="o",origin="p"`,
		"X-Matrix origin=\"\xff\t\",key=k,sig=s",
		`Bearer abc`,
		`X-Matrix`,
		``,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		p, err := ParseHeader(value)
		if err != nil {
			if p != (Params{}) {
				t.Fatalf("ParseHeader(%q) returned %+v with error %v", value, p, err)
			}
			return
		}
		if p.Origin == "" || p.Key == "" || p.Sig == "" {
			t.Fatalf("ParseHeader(%q) = %+v without a required parameter", value, p)
		}
		// Whatever parses must survive formatting and parsing again.
		again, err := ParseHeader(p.String())
		if err != nil || again != p {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", value, p, p.String(), again, err)
		}
	})
}
