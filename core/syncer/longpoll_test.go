package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"hearth/core/streampos"
)

// longPoll starts a sync in the background and returns its result channel;
// waits receives a value each time the sync starts waiting.
func longPoll(ctx context.Context, e *env, req Request) (<-chan *Response, <-chan error, chan struct{}) {
	waits := make(chan struct{}, 16)
	e.sync.onWait = func() { waits <- struct{}{} }
	out := make(chan *Response, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := e.sync.Sync(ctx, req)
		if err != nil {
			errc <- err
			return
		}
		out <- resp
	}()
	return out, errc, waits
}

func TestLongPollWakesOnEvent(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Tea")
	other := e.createRoom(t, carol, "elsewhere")
	tok := since(t, e.do(t, Request{UserID: alice}))

	out, errc, waits := longPoll(t.Context(), e, Request{UserID: alice, Since: tok, Timeout: time.Hour})
	<-waits
	// Every local user is woken for this event, but alice cannot see it:
	// she keeps waiting.
	e.message(t, other, carol, "not for alice")
	<-waits
	msg := e.message(t, roomID, alice, "wake up")
	select {
	case resp := <-out:
		jr := resp.Rooms.Join[roomID]
		if jr == nil || !slices.Equal(ids(t, jr.Timeline.Events), pduIDs(msg)) {
			t.Fatalf("woken sync = %+v", resp.Rooms)
		}
		if len(resp.Rooms.Join) != 1 {
			t.Fatalf("woken sync has other rooms: %v", resp.Rooms.Join)
		}
	case err := <-errc:
		t.Fatal(err)
	}
}

func TestLongPollReturnsAtTimeout(t *testing.T) {
	e := newEnv(t, nil)
	e.createRoom(t, alice, "Tea")
	tok := since(t, e.do(t, Request{UserID: alice}))
	resp := e.do(t, Request{UserID: alice, Since: tok, Timeout: time.Millisecond})
	if !resp.empty() || resp.NextBatch != tok.String() {
		t.Fatalf("timed out sync = %+v, want empty with next_batch %s", resp, tok)
	}
}

func TestLongPollReturnsAtOnceWithNews(t *testing.T) {
	e := newEnv(t, nil)
	roomID := e.createRoom(t, alice, "Tea")
	tok := since(t, e.do(t, Request{UserID: alice}))
	e.message(t, roomID, alice, "already there")
	waited := false
	e.sync.onWait = func() { waited = true }
	resp := e.do(t, Request{UserID: alice, Since: tok, Timeout: time.Hour})
	if waited || resp.Rooms.Join[roomID] == nil {
		t.Fatalf("sync with news waited (%v) or lacks it: %+v", waited, resp.Rooms)
	}
}

func TestLongPollEndsWithContext(t *testing.T) {
	e := newEnv(t, nil)
	e.createRoom(t, alice, "Tea")
	tok := since(t, e.do(t, Request{UserID: alice}))
	ctx, cancel := context.WithCancel(t.Context())
	_, errc, waits := longPoll(ctx, e, Request{UserID: alice, Since: tok, Timeout: time.Hour})
	<-waits
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sync returned %v", err)
	}
}

func TestLongPollWakesOnSource(t *testing.T) {
	ad := &fakeAccountData{}
	e := newEnv(t, func(c *Config) { c.AccountData = ad })
	tok := since(t, e.do(t, Request{UserID: alice}))
	out, errc, waits := longPoll(t.Context(), e, Request{UserID: alice, Since: tok, Timeout: time.Hour})
	<-waits
	ad.put(alice, "", "m.push_rules", `{}`)
	e.notify.Wake(alice)
	select {
	case resp := <-out:
		if len(resp.AccountData.Events) != 1 {
			t.Fatalf("woken sync = %+v", resp)
		}
	case err := <-errc:
		t.Fatal(err)
	}
}

// streamedAccountData is an AccountData whose writes, like real sources',
// take a position that becomes visible only when finished.
type streamedAccountData struct {
	fakeAccountData
	stream *streampos.Stream
}

func (s *streamedAccountData) Position() uint64 {
	p, _ := s.stream.Position()
	return p
}

func (s *streamedAccountData) Stream() (uint64, <-chan struct{}) { return s.stream.Position() }

func (s *streamedAccountData) Changes(ctx context.Context, userID string, from, to uint64) (map[string]json.RawMessage, map[string]map[string]json.RawMessage, error) {
	return s.fakeAccountData.Changes(ctx, userID, from, to)
}

func TestLongPollWaitsForWatermark(t *testing.T) {
	ad := &streamedAccountData{stream: streampos.New(0)}
	e := newEnv(t, func(c *Config) { c.AccountData = ad })
	tok := since(t, e.do(t, Request{UserID: alice}))
	out, errc, waits := longPoll(t.Context(), e, Request{UserID: alice, Since: tok, Timeout: time.Hour})
	<-waits
	// A write woken about before its position is visible: the request
	// wakes, finds nothing, and must then wait for the watermark.
	pos := ad.stream.Allocate()
	ad.put(alice, "", "m.direct", `{}`)
	ad.log[len(ad.log)-1].pos = pos
	e.notify.Wake(alice)
	<-waits
	ad.stream.Finish(pos)
	select {
	case resp := <-out:
		if len(resp.AccountData.Events) != 1 {
			t.Fatalf("sync after the watermark moved = %+v", resp)
		}
	case err := <-errc:
		t.Fatal(err)
	}
}
