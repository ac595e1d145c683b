package streampos

import (
	"sync"
	"testing"
)

func TestWatermarkWaitsForGaps(t *testing.T) {
	s := New(10)
	if p, _ := s.Position(); p != 10 {
		t.Fatalf("start position %d", p)
	}
	a, b, c := s.Allocate(), s.Allocate(), s.Allocate()
	if a != 11 || b != 12 || c != 13 {
		t.Fatalf("allocated %d %d %d", a, b, c)
	}
	_, changed := s.Position()
	s.Finish(c)
	s.Finish(b)
	if p, _ := s.Position(); p != 10 {
		t.Fatalf("watermark moved past unfinished %d: %d", a, p)
	}
	select {
	case <-changed:
		t.Fatal("change signalled while the watermark stood still")
	default:
	}
	s.Finish(a)
	if p, _ := s.Position(); p != 13 {
		t.Fatalf("watermark %d after all finished, want 13", p)
	}
	select {
	case <-changed:
	default:
		t.Fatal("no change signalled when the watermark moved")
	}
}

func TestConcurrentWriters(t *testing.T) {
	s := New(0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				s.Finish(s.Allocate())
			}
		})
	}
	wg.Wait()
	if p, _ := s.Position(); p != 800 {
		t.Fatalf("watermark %d, want 800", p)
	}
}
