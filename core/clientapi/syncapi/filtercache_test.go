package syncapi

import (
	"errors"
	"fmt"
	"testing"
)

func TestFilterCache(t *testing.T) {
	var c filterCache
	loads := 0
	inline := func(raw string) func() ([]byte, error) {
		return func() ([]byte, error) { loads++; return []byte(raw), nil }
	}
	a := `{"room":{"timeline":{"limit":5}}}`
	f1, err := c.get("inline\x00"+a, inline(a))
	if err != nil {
		t.Fatal(err)
	}
	if f1.Room.Timeline.Limit == nil || *f1.Room.Timeline.Limit != 5 {
		t.Fatalf("parsed filter has timeline limit %v, want 5", f1.Room.Timeline.Limit)
	}
	if f2, err := c.get("inline\x00"+a, inline(a)); err != nil || f2 != f1 {
		t.Fatalf("the same JSON parsed again: %p, %v; want the cached %p", f2, err, f1)
	}
	// A stored filter is read from the store once.
	for range 3 {
		if _, err := c.get("stored\x00@u:x\x00id", inline(a)); err != nil {
			t.Fatal(err)
		}
	}
	if loads != 2 {
		t.Fatalf("the filters were loaded %d times, want 2 (once inline, once stored)", loads)
	}
	for _, bad := range []string{`{"room":{"timeline":{"limit":"x"}}}`, `[]`, `{`} {
		for range 2 {
			if _, err := c.get(bad, inline(bad)); err == nil {
				t.Fatalf("filter %s parsed without error", bad)
			}
		}
	}
	// A failed load is not kept either.
	unknown := errors.New("no such filter")
	for range 2 {
		if _, err := c.get("stored\x00@u:x\x00missing", func() ([]byte, error) { return nil, unknown }); !errors.Is(err, unknown) {
			t.Fatalf("an unknown stored filter gave %v", err)
		}
	}
	// Past its size the cache starts over and still answers right.
	for i := range filterCacheSize + 10 {
		raw := fmt.Sprintf(`{"room":{"timeline":{"limit":%d}}}`, i+1)
		f, err := c.get(raw, inline(raw))
		if err != nil || *f.Room.Timeline.Limit != i+1 {
			t.Fatalf("filter %d: %v, %v", i, f, err)
		}
	}
	if len(c.parsed) > filterCacheSize {
		t.Fatalf("the cache holds %d filters, more than %d", len(c.parsed), filterCacheSize)
	}
}
