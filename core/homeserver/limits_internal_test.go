package homeserver

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiterForgetsIdleClients(t *testing.T) {
	l := newLimiter(1, 2)
	t0 := time.Unix(1000, 0)
	for i := 0; i < maxLimiterClients; i++ {
		l.allow(strconv.Itoa(i), t0)
	}
	// Client 0 is busy: it empties its bucket.
	l.allow("0", t0)
	if ok, wait := l.allow("0", t0); ok || wait != time.Second {
		t.Fatalf("empty bucket: ok=%v wait=%v", ok, wait)
	}
	// A second later the others have refilled and are forgotten when a new
	// client arrives; client 0 has not and is kept.
	l.allow("new", t0.Add(time.Second))
	if n := len(l.buckets); n != 2 {
		t.Errorf("%d buckets after pruning, want 2", n)
	}
	if _, ok := l.buckets["0"]; !ok {
		t.Error("busy client forgotten")
	}
}

func TestNonceStoreBounds(t *testing.T) {
	n := newNonceStore(time.Minute)
	t0 := time.Unix(1000, 0)
	for i := 0; i < maxNonces; i++ {
		if !n.add(strconv.Itoa(i), t0) {
			t.Fatalf("add %d refused", i)
		}
	}
	if n.add("one too many", t0) {
		t.Error("store accepted more than maxNonces live nonces")
	}
	if !n.take("5", t0.Add(59*time.Second)) {
		t.Error("live nonce not taken")
	}
	if n.take("5", t0) {
		t.Error("nonce taken twice")
	}
	if !n.add("refill", t0) {
		t.Fatal("add after take refused")
	}
	if !n.add("after expiry", t0.Add(time.Minute)) {
		t.Error("expired nonces not pruned")
	}
	if len(n.expiry) != 1 {
		t.Errorf("%d nonces kept, want 1", len(n.expiry))
	}
}
