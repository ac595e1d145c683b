package notify

import "testing"

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestWakeOnlyNamedUsers(t *testing.T) {
	n := New()
	alice, _ := n.Waiter("alice")
	bob, all := n.Waiter("bob")
	n.Wake("alice", "carol")
	if !closed(alice) {
		t.Fatal("alice not woken")
	}
	if closed(bob) || closed(all) {
		t.Fatal("bob woken by a change for alice")
	}
	// A new waiter after the wake waits for the next one.
	again, _ := n.Waiter("alice")
	if closed(again) {
		t.Fatal("new waiter already closed")
	}
	n.WakeAll()
	if !closed(again) || !closed(bob) || !closed(all) {
		t.Fatal("WakeAll missed a waiter")
	}
}
