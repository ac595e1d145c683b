package e2ee

import (
	"reflect"
	"testing"
)

func TestStreamWakesInWatermarkOrder(t *testing.T) {
	var woken [][]string
	s := newStream(0, func(users ...string) { woken = append(woken, users) })
	p1, p2, p3 := s.Allocate(), s.Allocate(), s.Allocate()

	// 2 commits before 1: its users wait, as a sync could not see it yet.
	s.finish(p2, []string{"@b:hs", "@a:hs"})
	if len(woken) != 0 {
		t.Fatalf("woken before the watermark: %v", woken)
	}
	// 1 is abandoned: the watermark passes 2 and its users wake.
	s.finish(p1, nil)
	if want := [][]string{{"@a:hs", "@b:hs"}}; !reflect.DeepEqual(woken, want) {
		t.Fatalf("woken %v, want %v", woken, want)
	}
	s.finish(p3, []string{"@a:hs", "@a:hs"})
	if want := [][]string{{"@a:hs", "@b:hs"}, {"@a:hs"}}; !reflect.DeepEqual(woken, want) {
		t.Errorf("woken %v, want %v", woken, want)
	}
	if p, _ := s.Position(); p != p3 {
		t.Errorf("watermark %d, want %d", p, p3)
	}
}
