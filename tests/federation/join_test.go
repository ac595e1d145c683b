package federation_test

import (
	"fmt"
	"slices"
	"testing"
)

// TestJoinAndTalk joins a user of one server to a room of another by alias
// and has both sides talk: every server's /sync shows every message, in
// the order they were sent.
func TestJoinAndTalk(t *testing.T) {
	a, b := startNode(t), startNode(t)
	alice := register(t, a, "alice")
	bob := register(t, b, "bob")
	roomID := alice.createRoom("lobby", nil)
	if got := bob.join("#lobby:" + a.name); got != roomID {
		t.Fatalf("joined %s, want %s", got, roomID)
	}
	var want []string
	// Each waits for the other's message before answering, so that the
	// order is the same everywhere.
	waitAll := func() {
		for _, c := range []*client{alice, bob} {
			eventually(t, "messages reach "+c.user, func() error {
				if got := c.syncBodies(roomID); !slices.Equal(got, want) {
					return fmt.Errorf("sync shows %q, want %q", got, want)
				}
				return nil
			})
		}
	}
	for i := range 3 {
		want = append(want, fmt.Sprintf("a%d", i))
		alice.say(roomID, want[len(want)-1])
		waitAll()
		want = append(want, fmt.Sprintf("b%d", i))
		bob.say(roomID, want[len(want)-1])
		waitAll()
	}
}
