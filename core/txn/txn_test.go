package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"hearth/persist"
	"hearth/persist/kvtest"
	"hearth/persist/memory"
)

func TestDoIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New(), nil)
	n := 0
	send := func(Recorder) (string, error) { n++; return fmt.Sprintf("$e%d", n), nil }
	k := Key{UserID: "@a:x", DeviceID: "D1", Scope: "send/!r:x/m.room.message", TxnID: "t1"}
	for _, tc := range []struct {
		name string
		key  Key
		want string
	}{
		{"first", k, "$e1"},
		{"retry", k, "$e1"},
		{"other device", Key{UserID: "@a:x", DeviceID: "D2", Scope: k.Scope, TxnID: "t1"}, "$e2"},
		{"other scope", Key{UserID: "@a:x", DeviceID: "D1", Scope: "send/!s:x/m.room.message", TxnID: "t1"}, "$e3"},
		{"other user", Key{UserID: "@b:x", DeviceID: "D1", Scope: k.Scope, TxnID: "t1"}, "$e4"},
		{"fields do not run together", Key{UserID: "@a:x", DeviceID: "D", Scope: "1" + k.Scope, TxnID: "t1"}, "$e5"},
		{"retry again", k, "$e1"},
	} {
		got, err := s.Do(ctx, tc.key, send)
		if err != nil || got != tc.want {
			t.Errorf("%s: Do = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if id, ok, err := s.Get(ctx, k); err != nil || !ok || id != "$e1" {
		t.Errorf("Get = %q, %v, %v", id, ok, err)
	}
}

func TestDoFailureRecordsNothing(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New(), nil)
	k := Key{UserID: "@a:x", DeviceID: "D", Scope: "s", TxnID: "t"}
	boom := errors.New("boom")
	if _, err := s.Do(ctx, k, func(Recorder) (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Fatalf("Do = %v, want boom", err)
	}
	if _, ok, _ := s.Get(ctx, k); ok {
		t.Fatal("a failed send was recorded")
	}
	got, err := s.Do(ctx, k, func(Recorder) (string, error) { return "$ok", nil })
	if err != nil || got != "$ok" {
		t.Fatalf("retry after failure = %q, %v", got, err)
	}
}

func TestConcurrentRetriesSendOnce(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New(), nil)
	k := Key{UserID: "@a:x", DeviceID: "D", Scope: "s", TxnID: "t"}
	var sends atomic.Int32
	var wg sync.WaitGroup
	ids := make([]string, 16)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.Do(ctx, k, func(Recorder) (string, error) {
				n := sends.Add(1)
				return fmt.Sprintf("$e%d", n), nil
			})
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	if sends.Load() != 1 {
		t.Fatalf("%d sends, want 1", sends.Load())
	}
	for _, id := range ids {
		if id != "$e1" {
			t.Fatalf("ids = %v", ids)
		}
	}
	if len(s.locks) != 0 {
		t.Fatalf("%d key locks left behind", len(s.locks))
	}
}

func TestSenderAndTransactionID(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New(), nil)
	k := Key{UserID: "@a:x", DeviceID: "D1", Scope: "s", TxnID: "t\x00weird/txn"}
	if err := s.Put(ctx, k, "$ev"); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := s.Sender(ctx, "$ev")
	if err != nil || !ok || rec != (Record{UserID: "@a:x", DeviceID: "D1", TxnID: "t\x00weird/txn"}) {
		t.Fatalf("Sender = %+v, %v, %v", rec, ok, err)
	}
	if _, ok, err := s.Sender(ctx, "$other"); err != nil || ok {
		t.Fatalf("Sender of unknown event = %v, %v", ok, err)
	}
	for _, tc := range []struct {
		user, device, want string
	}{
		{"@a:x", "D1", "t\x00weird/txn"},
		{"@a:x", "D2", ""},
		{"@b:x", "D1", ""},
	} {
		got, err := s.TransactionID(ctx, "$ev", tc.user, tc.device)
		if err != nil || got != tc.want {
			t.Errorf("TransactionID(%s, %s) = %q, %v; want %q", tc.user, tc.device, got, err, tc.want)
		}
		if got, ok := s.TxnID(ctx, tc.user, tc.device, "$ev"); got != tc.want || ok != (tc.want != "") {
			t.Errorf("TxnID(%s, %s) = %q, %v; want %q", tc.user, tc.device, got, ok, tc.want)
		}
	}
}

func TestDoKeepsARecordMadeBySend(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New(), nil)
	k := Key{UserID: "@a:x", DeviceID: "D", Scope: "s", TxnID: "t"}
	got, err := s.Do(ctx, k, func(Recorder) (string, error) {
		return "$early", s.Put(ctx, k, "$early")
	})
	if err != nil || got != "$early" {
		t.Fatalf("Do = %q, %v", got, err)
	}
	if rec, ok, err := s.Sender(ctx, "$early"); err != nil || !ok || rec.TxnID != "t" {
		t.Fatalf("Sender = %+v, %v, %v", rec, ok, err)
	}
}

func TestRecordIsDurableWithItsTransaction(t *testing.T) {
	ctx := context.Background()
	db := memory.New()
	s := New(db, nil)
	k := Key{UserID: "@a:x", DeviceID: "D", Scope: "s", TxnID: "t"}
	// The event's transaction fails after recording: nothing is recorded.
	boom := errors.New("boom")
	_, err := s.Do(ctx, k, func(record Recorder) (string, error) {
		err := db.Update(ctx, func(tx persist.Tx) error {
			if err := record(tx, "$lost"); err != nil {
				return err
			}
			return boom
		})
		return "", err
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Do = %v, want boom", err)
	}
	if _, ok, _ := s.Get(ctx, k); ok {
		t.Fatal("an aborted transaction left a transaction record")
	}
	if _, ok, _ := s.Sender(ctx, "$lost"); ok {
		t.Fatal("an aborted transaction left a sender record")
	}
	// It commits: both records exist, and a retry returns the event.
	send := func(record Recorder) (string, error) {
		return "$ev", db.Update(ctx, func(tx persist.Tx) error { return record(tx, "$ev") })
	}
	for _, name := range []string{"first", "retry"} {
		if got, err := s.Do(ctx, k, send); err != nil || got != "$ev" {
			t.Fatalf("%s: Do = %q, %v", name, got, err)
		}
	}
	if rec, ok, err := s.Sender(ctx, "$ev"); err != nil || !ok || rec != (Record{UserID: "@a:x", DeviceID: "D", TxnID: "t"}) {
		t.Fatalf("Sender = %+v, %v, %v", rec, ok, err)
	}
}

// TestDoTrustsRecord checks that a send recording its event with the
// Recorder in its own transaction costs Do one read (the lookup before
// send) and no write after it, and that a send that did not record still
// gets its record written.
func TestDoTrustsRecord(t *testing.T) {
	ctx := context.Background()
	db := &kvtest.Counting{Store: memory.New()}
	s := New(db, nil)
	k := Key{UserID: "@a:x", DeviceID: "D", Scope: "s", TxnID: "t1"}
	got, err := s.Do(ctx, k, func(record Recorder) (string, error) {
		return "$ev", db.Update(ctx, func(tx persist.Tx) error { return record(tx, "$ev") })
	})
	if err != nil || got != "$ev" {
		t.Fatalf("Do = %q, %v", got, err)
	}
	if db.Views.Load() != 1 {
		t.Fatalf("Do with a recording send made %d reads, want 1", db.Views.Load())
	}
	if db.Updates.Load() != 1 {
		t.Fatalf("Do with a recording send made %d writes, want only the send's", db.Updates.Load())
	}
	// A send that records nothing still gets its record.
	k3 := Key{UserID: "@a:x", DeviceID: "D", Scope: "s", TxnID: "t3"}
	if got, err := s.Do(ctx, k3, func(Recorder) (string, error) { return "$plain", nil }); err != nil || got != "$plain" {
		t.Fatalf("Do = %q, %v", got, err)
	}
	if id, ok, err := s.Get(ctx, k3); err != nil || !ok || id != "$plain" {
		t.Fatalf("record of a plain send: %q %v %v", id, ok, err)
	}
}

// eventsMap is an Events lookup over a map, as the room DAG keeps records
// with events.
type eventsMap map[string]Record

func (m eventsMap) EventTransaction(_ context.Context, eventID string) (Record, bool, error) {
	rec, ok := m[eventID]
	return rec, ok, nil
}

// TestDoWithEvents checks the store that leaves the reverse mapping to the
// events: Do writes only the key, Sender and TransactionID find records
// with the events and, for events stored before, under txn/e.
func TestDoWithEvents(t *testing.T) {
	ctx := context.Background()
	db := memory.New()
	events := eventsMap{}
	s := New(db, events)
	k := Key{UserID: "@a:x", DeviceID: "D1", Scope: "send", TxnID: "t1"}
	got, err := s.Do(ctx, k, func(record Recorder) (string, error) {
		err := db.Update(ctx, func(tx persist.Tx) error {
			events["$new"] = Record{UserID: k.UserID, DeviceID: k.DeviceID, TxnID: k.TxnID}
			return record(tx, "$new")
		})
		return "$new", err
	})
	if err != nil || got != "$new" {
		t.Fatalf("Do = %q, %v", got, err)
	}
	if id, ok, err := s.Get(ctx, k); err != nil || !ok || id != "$new" {
		t.Errorf("Get = %q, %v, %v; want $new", id, ok, err)
	}
	err = db.View(ctx, func(tx persist.Tx) error {
		if _, err := tx.Get([]byte(prefixEvent + "$new")); !errors.Is(err, persist.ErrNotFound) {
			t.Errorf("txn/e written beside the event's own record: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// An event from before: its record is under txn/e only.
	if err := New(db, nil).Put(ctx, Key{UserID: "@a:x", DeviceID: "D1", Scope: "send", TxnID: "t0"}, "$old"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		eventID, device, want string
	}{
		{"$new", "D1", "t1"},
		{"$new", "D2", ""},
		{"$old", "D1", "t0"},
		{"$none", "D1", ""},
	} {
		id, err := s.TransactionID(ctx, tc.eventID, "@a:x", tc.device)
		if err != nil || id != tc.want {
			t.Errorf("TransactionID(%s, %s) = %q, %v; want %q", tc.eventID, tc.device, id, err, tc.want)
		}
	}
}
