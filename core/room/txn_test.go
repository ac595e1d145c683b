package room

import (
	"context"
	"errors"
	"testing"

	"hearth/core/roomversion"
)

func TestRecordTransaction(t *testing.T) {
	tests := []struct {
		name string
		rec  eventRecord
	}{
		{"without", eventRecord{status: statusAccepted, version: "11", pos: 7, group: 3, json: []byte(`{"a":1}`)}},
		{"with", eventRecord{status: statusSoftFailed, version: "11", pos: 9, group: 4,
			txn: Transaction{UserID: "@alice:a.test", DeviceID: "DEV", TxnID: "m1.2"}, json: []byte(`{"b":2}`)}},
		{"empty fields", eventRecord{status: statusAccepted, version: "10", txn: Transaction{TxnID: "x"}, json: []byte(`{}`)}},
		{"long IDs", eventRecord{status: statusOutlier, version: "11",
			txn: Transaction{UserID: string(make([]byte, 300)), DeviceID: "D", TxnID: string(make([]byte, 1000))}, json: []byte(`{}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecord(encodeRecord(tt.rec))
			if err != nil {
				t.Fatal(err)
			}
			if got.status != tt.rec.status || got.version != tt.rec.version || got.pos != tt.rec.pos ||
				got.group != tt.rec.group || got.txn != tt.rec.txn || string(got.json) != string(tt.rec.json) {
				t.Errorf("decoded %+v, want %+v", got, tt.rec)
			}
		})
	}
}

func TestRecordTransactionCorrupt(t *testing.T) {
	b := encodeRecord(eventRecord{status: statusAccepted, version: "11",
		txn: Transaction{UserID: "@alice:a.test", DeviceID: "DEV", TxnID: "t"}})
	for n := 18 + 2; n < len(b); n++ {
		if _, err := decodeRecord(b[:n]); !errors.Is(err, errCorrupt) {
			t.Errorf("record cut to %d of %d bytes: %v, want errCorrupt", n, len(b), err)
		}
	}
}

// TestSendKeepsTransaction stores a send's transaction with the event and
// finds it again, from the cache and, after a reopen, from the store.
func TestSendKeepsTransaction(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "a.test", 1, keyring{})
	alice := "@alice:a.test"
	evs := createPublicRoom(t, s, roomversion.MustLookup("11"), alice)
	roomID := evs[0].RoomID()
	want := Transaction{UserID: alice, DeviceID: "PHONE", TxnID: "txn1"}
	sent, err := s.dag.Send(ctx, roomID, Proto{Sender: alice, Type: "m.room.message",
		Content: content(t, map[string]any{"body": "hi"}), Transaction: &want})
	if err != nil {
		t.Fatal(err)
	}
	reopened, err := New(ctx, s.dag.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]*DAG{"cached": s.dag, "reopened": reopened} {
		got, ok, err := d.Transaction(ctx, sent.ID())
		if err != nil || !ok || got != want {
			t.Errorf("%s: Transaction = %+v, %v, %v; want %+v", name, got, ok, err, want)
		}
		// An event sent without one has none.
		if got, ok, err := d.Transaction(ctx, evs[len(evs)-1].ID()); err != nil || ok {
			t.Errorf("%s: Transaction of an event sent without one = %+v, %v, %v", name, got, ok, err)
		}
		if _, _, err := d.Transaction(ctx, "$unknown"); !errors.Is(err, ErrUnknownEvent) {
			t.Errorf("%s: Transaction of an unknown event: %v, want ErrUnknownEvent", name, err)
		}
	}
}
