package syncapi

import (
	"fmt"
	"testing"
)

func TestFilterCache(t *testing.T) {
	var c filterCache
	a := []byte(`{"room":{"timeline":{"limit":5}}}`)
	f1, err := c.parse(a)
	if err != nil {
		t.Fatal(err)
	}
	if f1.Room.Timeline.Limit == nil || *f1.Room.Timeline.Limit != 5 {
		t.Fatalf("parsed filter has timeline limit %v, want 5", f1.Room.Timeline.Limit)
	}
	if f2, err := c.parse(a); err != nil || f2 != f1 {
		t.Fatalf("the same JSON parsed again: %p, %v; want the cached %p", f2, err, f1)
	}
	for _, bad := range []string{`{"room":{"timeline":{"limit":"x"}}}`, `[]`, `{`} {
		for range 2 {
			if _, err := c.parse([]byte(bad)); err == nil {
				t.Fatalf("filter %s parsed without error", bad)
			}
		}
	}
	// Past its size the cache starts over and still answers right.
	for i := range filterCacheSize + 10 {
		raw := fmt.Appendf(nil, `{"room":{"timeline":{"limit":%d}}}`, i+1)
		f, err := c.parse(raw)
		if err != nil || *f.Room.Timeline.Limit != i+1 {
			t.Fatalf("filter %d: %v, %v", i, f, err)
		}
	}
	if len(c.parsed) > filterCacheSize {
		t.Fatalf("the cache holds %d filters, more than %d", len(c.parsed), filterCacheSize)
	}
}
