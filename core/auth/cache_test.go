package auth

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// cacheLen counts the entries of a pduCache.
func cacheLen[V any](c *pduCache[V]) int {
	n := 0
	c.m.Range(func(any, any) bool { n++; return true })
	return n
}

func TestCacheDropsCollectedEvents(t *testing.T) {
	before := cacheLen(&membershipCache)
	func() {
		r := newRoom(t, "10", "")
		for i := 0; i < 100; i++ {
			ev := r.memberEv(bob, bob, "join")
			if Membership(ev) != "join" {
				t.Fatal("membership not read")
			}
		}
	}()
	if grown := cacheLen(&membershipCache) - before; grown < 100 {
		t.Fatalf("cache grew by %d, want 100", grown)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cacheLen(&membershipCache) > before {
		if time.Now().After(deadline) {
			t.Fatalf("cache still holds %d entries after the events died", cacheLen(&membershipCache)-before)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

func TestCheckConcurrent(t *testing.T) {
	r := standard(t, "12", "public")
	r.member(bob, "join")
	msg := msgEv(bob, "m.room.message")(r)
	topic := stateEv(bob, "m.room.topic", "")(r)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if err := Check(msg, r.state); err != nil {
					t.Error(err)
					return
				}
				if Check(topic, r.state) == nil {
					t.Error("topic by bob allowed")
					return
				}
			}
		}()
	}
	wg.Wait()
}
