package syncer

import (
	"testing"
	"time"
)

func TestPaceSpacesOneDevicesAnswers(t *testing.T) {
	const pace = time.Hour // the test clock moves a millisecond per reading
	var slept []time.Duration
	e := newEnv(t, func(c *Config) {
		c.Pace = pace
		c.Sleep = func(d time.Duration) { slept = append(slept, d) }
	})
	roomID := e.createRoom(t, alice, "Tea")
	tok := since(t, e.do(t, Request{UserID: alice, DeviceID: "A"}))
	if len(slept) != 0 {
		t.Fatalf("an initial sync slept %v", slept)
	}
	e.message(t, roomID, alice, "one")
	resp := e.do(t, Request{UserID: alice, DeviceID: "A", Since: tok, Timeout: time.Hour})
	if resp.Rooms.Join[roomID] == nil {
		t.Fatal("the paced sync lacks the news")
	}
	if len(slept) != 1 || slept[0] <= pace-time.Second || slept[0] > pace {
		t.Fatalf("a sync right after an answer slept %v, want one sleep of nearly %v", slept, pace)
	}
	// Another device of the same user is paced on its own.
	e.do(t, Request{UserID: alice, DeviceID: "B", Since: tok, Timeout: time.Hour})
	if len(slept) != 1 {
		t.Fatalf("another device's first sync slept: %v", slept)
	}
	// Once the pace has passed, a sync starts at once.
	e.mu.Lock()
	e.now = e.now.Add(pace)
	e.mu.Unlock()
	e.message(t, roomID, alice, "two")
	e.do(t, Request{UserID: alice, DeviceID: "A", Since: tok, Timeout: time.Hour})
	if len(slept) != 1 {
		t.Fatalf("a sync after the pace slept: %v", slept)
	}
}

func TestPacerForgetsOldAnswers(t *testing.T) {
	var p pacer
	now := time.Unix(0, 0)
	for i := range 1000 {
		p.answered("@u:hs.test", string(rune('a'+i%26))+time.Duration(i).String(), now.Add(time.Duration(i)*time.Second), time.Second)
	}
	if len(p.last) > 512 {
		t.Errorf("pacer holds %d answers of devices long done", len(p.last))
	}
}
