package rooms

import (
	"fmt"
	"testing"
)

// BenchmarkMessagesPage measures one backward /messages page of 50 events
// for a member of a room with 2,000 messages.
func BenchmarkMessagesPage(b *testing.B) {
	hs := newHarness(b)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	hs.join("bob", roomID)
	for i := range 2000 {
		hs.sendMessage("alice", roomID, fmt.Sprintf("m%d", i))
	}
	path := "/rooms/" + esc(roomID) + "/messages?dir=b&limit=50"
	b.ResetTimer()
	for b.Loop() {
		if r := hs.do("bob", "GET", path, nil); r.status != 200 {
			b.Fatalf("status %d %s", r.status, r.body)
		}
	}
}

// BenchmarkSend measures PUT /send of one message, transaction included.
func BenchmarkSend(b *testing.B) {
	hs := newHarness(b)
	roomID := hs.createRoom("alice", map[string]any{"preset": "public_chat"})
	msg := map[string]any{"msgtype": "m.text", "body": "hello"}
	i := 0
	for b.Loop() {
		i++
		if r := hs.do("alice", "PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/b%d", esc(roomID), i), msg); r.status != 200 {
			b.Fatalf("status %d %s", r.status, r.body)
		}
	}
}
