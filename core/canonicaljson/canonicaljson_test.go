package canonicaljson

import (
	"errors"
	"strings"
	"testing"

	"hearth/core/internal/vectors"
)

type canonicalCase struct {
	Description string `json:"description"`
	Input       string `json:"input"`
	Canonical   string `json:"canonical"`
}

func TestSpecVectors(t *testing.T) {
	var file struct {
		Cases []canonicalCase `json:"cases"`
	}
	vectors.Load(t, "spec_canonical_json.json", &file)
	if len(file.Cases) == 0 {
		t.Fatal("no cases in spec_canonical_json.json")
	}
	for _, tc := range file.Cases {
		checkCanonical(t, tc)
	}
}

func TestDerivedEdgeCases(t *testing.T) {
	var file struct {
		Cases  []canonicalCase `json:"cases"`
		Reject []canonicalCase `json:"must_reject_in_room_v6_plus"`
	}
	vectors.Load(t, "derived_canonical_json_edge_cases.json", &file)
	if len(file.Cases) == 0 || len(file.Reject) == 0 {
		t.Fatal("edge case file has no cases")
	}
	for _, tc := range file.Cases {
		checkCanonical(t, tc)
	}
	for _, tc := range file.Reject {
		if out, err := CanonicalizeStrict([]byte(tc.Input)); err == nil {
			t.Errorf("%s: strict mode accepted %s as %s", tc.Description, tc.Input, out)
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v does not wrap ErrInvalid", tc.Description, err)
		}
		if _, err := Canonicalize([]byte(tc.Input)); err != nil {
			t.Errorf("%s: lenient mode rejected %s: %v", tc.Description, tc.Input, err)
		}
	}
}

func checkCanonical(t *testing.T, tc canonicalCase) {
	t.Helper()
	got, err := Canonicalize([]byte(tc.Input))
	if err != nil {
		t.Errorf("%s: Canonicalize(%q): %v", tc.Description, tc.Input, err)
		return
	}
	if string(got) != tc.Canonical {
		t.Errorf("%s: Canonicalize(%q)\n got %q\nwant %q", tc.Description, tc.Input, got, tc.Canonical)
	}
	// Canonical output is a fixed point.
	again, err := CanonicalizeStrict(got)
	if err == nil && string(again) != string(got) {
		t.Errorf("%s: canonical form is not a fixed point: %q -> %q", tc.Description, got, again)
	}
}

func TestNumbers(t *testing.T) {
	tests := []struct {
		in      string
		lenient string // "" means error
		strict  string // "" means error
	}{
		{"0", "0", "0"},
		{"-0", "0", "0"},
		{"-0.0", "0", "0"},
		{"1e10", "10000000000", "10000000000"},
		{"1E+2", "100", "100"},
		{"2.50e1", "25", "25"},
		{"1.5", "1.5", ""},
		{"100e-2", "1", "1"},
		{"9007199254740991", "9007199254740991", "9007199254740991"},
		{"-9007199254740991", "-9007199254740991", "-9007199254740991"},
		{"9007199254740992", "9007199254740992", ""},
		{"123456789012345678901234567890", "123456789012345678901234567890", ""},
		{"1e999999999", "", ""},
		{"0e999999999", "0", "0"},
		{"1e-999999999", "0", ""},
		{"01", "", ""},
		{"-", "", ""},
		{"1.", "", ""},
		{".5", "", ""},
		{"1e", "", ""},
		{"+1", "", ""},
	}
	for _, tc := range tests {
		for _, mode := range []struct {
			name string
			fn   func([]byte) ([]byte, error)
			want string
		}{{"lenient", Canonicalize, tc.lenient}, {"strict", CanonicalizeStrict, tc.strict}} {
			got, err := mode.fn([]byte(tc.in))
			switch {
			case mode.want == "" && err == nil:
				t.Errorf("%s(%s) = %s, want error", mode.name, tc.in, got)
			case mode.want != "" && err != nil:
				t.Errorf("%s(%s): %v", mode.name, tc.in, err)
			case mode.want != "" && string(got) != mode.want:
				t.Errorf("%s(%s) = %s, want %s", mode.name, tc.in, got, mode.want)
			}
		}
	}
}

func TestRejectsMalformed(t *testing.T) {
	bad := []string{
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{a:1}`, `"abc`, `"\x"`, `"\u12"`,
		`"\ud800"`, `"\udc00\ud800"`, "\"a\x01\"", "\"\xff\"", `{"a":1,"a":2}`, `{"b":1,"a":2,"b":3}`,
		`tru`, `nul`, `[1] [2]`, `{"a":1}x`,
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	}
	for _, in := range bad {
		if out, err := Canonicalize([]byte(in)); err == nil {
			t.Errorf("Canonicalize(%q) = %q, want error", in, out)
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("Canonicalize(%q): error %v does not wrap ErrInvalid", in, err)
		}
	}
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Canonicalize([]byte(deep)); err != nil {
		t.Errorf("nesting of exactly MaxDepth rejected: %v", err)
	}
}

func TestNestedSorting(t *testing.T) {
	in := `{"z":{"y":1,"x":[{"b":1,"a":2}]},"a":"\u003c\/\u0041"}`
	want := `{"a":"</A","z":{"x":[{"a":2,"b":1}],"y":1}}`
	got, err := Canonicalize([]byte(in))
	if err != nil || string(got) != want {
		t.Fatalf("Canonicalize = %s, %v; want %s", got, err, want)
	}
}

func TestMarshal(t *testing.T) {
	v := map[string]any{"b": "<&>", "a": []int{3, 1}, "c": map[string]bool{"y": true, "x": false}}
	got, err := Marshal(v)
	want := `{"a":[3,1],"b":"<&>","c":{"x":false,"y":true}}`
	if err != nil || string(got) != want {
		t.Fatalf("Marshal = %s, %v; want %s", got, err, want)
	}
	if _, err := Marshal(func() {}); err == nil {
		t.Fatal("Marshal of a func succeeded")
	}
}

func FuzzCanonicalize(f *testing.F) {
	for _, seed := range []string{`{}`, `{"b":1,"a":[1,2,{"d":null,"c":true}]}`, `"\ud83d\udc85"`, `1e10`, `-0`, `{"a":"\u0000"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonicalize(in)
		if err != nil {
			return
		}
		again, err := Canonicalize(out)
		if err != nil {
			t.Fatalf("canonical output %q does not re-parse: %v", out, err)
		}
		if string(again) != string(out) {
			t.Fatalf("not a fixed point: %q -> %q", out, again)
		}
	})
}

func BenchmarkCanonicalizeEvent(b *testing.B) {
	ev := []byte(`{"type":"m.room.message","room_id":"!abc:example.org","sender":"@alice:example.org","origin_server_ts":1700000000000,"depth":42,"prev_events":["$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],"auth_events":["$bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","$ccccccccccccccccccccccccccccccccccccccccccc","$ddddddddddddddddddddddddddddddddddddddddddd"],"content":{"msgtype":"m.text","body":"` + strings.Repeat("hello world ", 40) + `"},"hashes":{"sha256":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"},"signatures":{"example.org":{"ed25519:a":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}},"unsigned":{"age":5}}`)
	buf := make([]byte, 0, 2048)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendCanonical(buf[:0], ev, true)
		if err != nil {
			b.Fatal(err)
		}
	}
}
