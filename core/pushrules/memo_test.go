package pushrules

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// TestMemos checks that the memos give what the uncached functions give
// and stay bounded.
func TestMemos(t *testing.T) {
	for i := range memoLimit + 100 {
		p := fmt.Sprintf("p%d*", i)
		if g := cachedGlob(p); !g.match(fmt.Sprintf("P%dxyz", i)) || g.match("q") {
			t.Fatalf("cachedGlob(%q) matches wrongly", p)
		}
	}
	globMemo.mu.RLock()
	n := len(globMemo.m)
	globMemo.mu.RUnlock()
	if n > memoLimit {
		t.Fatalf("glob memo holds %d entries, limit %d", n, memoLimit)
	}
	for range 2 {
		if got := cachedPath(`content.m\.federate`); !slices.Equal(got, []string{"content", "m.federate"}) {
			t.Fatalf("cachedPath = %q", got)
		}
		for _, raw := range []string{`true`, `"x"`, `5`, `null`, `[1]`} {
			want, wantOK := decodeScalar(json.RawMessage(raw))
			got, ok := cachedScalar(json.RawMessage(raw))
			if got != want || ok != wantOK {
				t.Fatalf("cachedScalar(%s) = %v %v, want %v %v", raw, got, ok, want, wantOK)
			}
		}
		if !cachedLiteral("Alice").matchWords("hi alice!") {
			t.Fatal("cachedLiteral does not match")
		}
	}
}
