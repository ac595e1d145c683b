package dotpath

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := map[string][]string{
		"content.body":                   {"content", "body"},
		`content.m\.relates_to`:          {"content", "m.relates_to"},
		`content.m\.relates_to.rel_type`: {"content", "m.relates_to", "rel_type"},
		`a\\b`:                           {`a\b`},
		`content.m\\foo`:                 {"content", `m\foo`},
		`a\x`:                            {`a\x`},
		`content.m\xfoo`:                 {"content", `m\xfoo`},
		`a\`:                             {`a\`},
		`a\\.b`:                          {`a\`, "b"},
		`a\\\.b`:                         {`a\.b`},
		"type":                           {"type"},
		"":                               {""},
		"a..b":                           {"a", "", "b"},
	}
	for in, want := range tests {
		if got := Split(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Split(%q) = %q, want %q", in, got, want)
		}
	}
}
