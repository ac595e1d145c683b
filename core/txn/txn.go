// Package txn makes the client API's transactional endpoints idempotent:
// PUT /rooms/{roomId}/send/{eventType}/{txnId} and PUT
// /rooms/{roomId}/redact/{eventId}/{txnId} must not create a second event
// when a client retries a request with the same transaction ID. A Store
// maps (user, device, scope, transaction ID) to the event the first request
// created, and each event back to the device and transaction ID that sent
// it, which /sync and the room endpoints show as unsigned.transaction_id to
// that device.
//
// Keys, under the prefix "txn/" of the persist store:
//
//	txn/k/<sha256 of the length-prefixed key fields>  -> event ID
//	txn/e/<event ID>                                  -> Record (JSON)
//
// The first key is a hash so that transaction IDs of any length and bytes
// fit in a persist key. With an Events lookup, the second mapping is kept
// with the event itself (the room DAG stores it in the event's record, one
// key fewer per message); txn/e keys are then only read, for events stored
// before.
package txn

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"hearth/persist"
)

const (
	prefixKey   = "txn/k/"
	prefixEvent = "txn/e/"
)

// Key names one transaction. Scope separates the endpoints (and their path
// parameters) that share a client's transaction ID namespace: the same
// txnId sent to two rooms is two transactions, as in Synapse, which keys
// transactions by request path.
type Key struct {
	UserID   string
	DeviceID string
	Scope    string
	TxnID    string
}

// Record is who sent an event through a transactional endpoint.
type Record struct {
	UserID   string `json:"u"`
	DeviceID string `json:"d"`
	TxnID    string `json:"t"`
}

// Store is the transaction map over a persist.Store. It is safe for
// concurrent use; requests with the same Key are serialised so that
// concurrent retries create one event.
type Store struct {
	db     persist.Store
	events Events

	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// Events finds the transaction stored with an event itself.
type Events interface {
	// EventTransaction returns the record stored with eventID; ok is
	// false when the event has none.
	EventTransaction(ctx context.Context, eventID string) (rec Record, ok bool, err error)
}

// New returns a Store over db. With events set, Do records only the
// transaction's key: the send callback must store the Record with the
// event, where events finds it (the room endpoints set
// room.Proto.Transaction). With events nil, Do stores both mappings.
func New(db persist.Store, events Events) *Store {
	return &Store{db: db, events: events, locks: make(map[string]*keyLock)}
}

func storeKey(k Key) []byte {
	var buf []byte
	for _, s := range []string{k.UserID, k.DeviceID, k.Scope, k.TxnID} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	sum := sha256.Sum256(buf)
	return append([]byte(prefixKey), sum[:]...)
}

// Recorder records eventID as the result of a transaction inside tx, a
// read-write transaction of the Store's persist store, so that the record
// is durable exactly when the rest of tx is. Do hands one to send.
type Recorder func(tx persist.Tx, eventID string) error

// Do returns the event ID of the transaction k: the one recorded by an
// earlier call, or else the one send returns, which Do records durably
// (with the reverse mapping, unless the event keeps it: see New) before
// returning. send should record
// the event itself with record, inside the transaction that stores the
// event (the room endpoints do, from room.Proto.Also), so that the event is
// never durable or visible to sync without its transaction ID; then Do has
// nothing left to write. send must fail if that transaction does not
// commit. Calls with the same k run one at a time. When send fails nothing
// is recorded and its error is returned unchanged, so that the client may
// retry.
func (s *Store) Do(ctx context.Context, k Key, send func(record Recorder) (eventID string, err error)) (string, error) {
	sk := storeKey(k)
	unlock := s.lock(string(sk))
	defer unlock()
	id, ok, err := s.get(ctx, sk)
	if err != nil || ok {
		return id, err
	}
	var mu sync.Mutex
	recorded := ""
	record := func(tx persist.Tx, eventID string) error {
		put := putTx
		if s.events != nil {
			put = putKeyTx
		}
		if err := put(tx, sk, k, eventID); err != nil {
			return fmt.Errorf("txn: record transaction: %w", err)
		}
		mu.Lock()
		recorded = eventID
		mu.Unlock()
		return nil
	}
	id, err = send(record)
	if err != nil {
		return "", err
	}
	mu.Lock()
	inTx := recorded == id
	mu.Unlock()
	if inTx {
		return id, nil
	}
	if err := s.put(ctx, sk, k, id); err != nil {
		return "", err
	}
	return id, nil
}

// Get returns the event ID recorded for k, if any.
func (s *Store) Get(ctx context.Context, k Key) (string, bool, error) {
	return s.get(ctx, storeKey(k))
}

// Put records eventID as the result of transaction k, for callers that
// create the event outside Do.
func (s *Store) Put(ctx context.Context, k Key, eventID string) error {
	return s.put(ctx, storeKey(k), k, eventID)
}

// Sender returns the record of the transaction that created eventID, if
// the event was created through one.
func (s *Store) Sender(ctx context.Context, eventID string) (Record, bool, error) {
	if s.events != nil {
		rec, ok, err := s.events.EventTransaction(ctx, eventID)
		if err != nil {
			return Record{}, false, fmt.Errorf("txn: read sender of %s: %w", eventID, err)
		}
		if ok {
			return rec, true, nil
		}
	}
	var rec Record
	found := false
	err := s.db.View(ctx, func(tx persist.Tx) error {
		raw, err := tx.Get([]byte(prefixEvent + eventID))
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return json.Unmarshal(raw, &rec)
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("txn: read sender of %s: %w", eventID, err)
	}
	return rec, found, nil
}

// TransactionID returns the transaction ID with which the device deviceID
// of userID sent eventID, or "" when another device (or no transaction)
// sent it: the value of unsigned.transaction_id for that device.
func (s *Store) TransactionID(ctx context.Context, eventID, userID, deviceID string) (string, error) {
	rec, ok, err := s.Sender(ctx, eventID)
	if err != nil || !ok || rec.UserID != userID || rec.DeviceID != deviceID {
		return "", err
	}
	return rec.TxnID, nil
}

// TxnID is TransactionID in the shape of the syncer's Transactions
// interface: ok is false when the device did not send the event through a
// transaction, or when the record cannot be read (sync then simply omits
// transaction_id).
func (s *Store) TxnID(ctx context.Context, userID, deviceID, eventID string) (string, bool) {
	id, err := s.TransactionID(ctx, eventID, userID, deviceID)
	return id, err == nil && id != ""
}

func (s *Store) get(ctx context.Context, sk []byte) (string, bool, error) {
	var id string
	found := false
	err := s.db.View(ctx, func(tx persist.Tx) error {
		raw, err := tx.Get(sk)
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		id, found = string(raw), true
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("txn: read transaction: %w", err)
	}
	return id, found, nil
}

func (s *Store) put(ctx context.Context, sk []byte, k Key, eventID string) error {
	err := s.db.Update(ctx, func(tx persist.Tx) error { return putTx(tx, sk, k, eventID) })
	if err != nil {
		return fmt.Errorf("txn: record transaction: %w", err)
	}
	return nil
}

// putTx writes both keys of transaction k (stored under sk) with tx.
func putTx(tx persist.Tx, sk []byte, k Key, eventID string) error {
	rec, err := json.Marshal(Record{UserID: k.UserID, DeviceID: k.DeviceID, TxnID: k.TxnID})
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	if err := putKeyTx(tx, sk, k, eventID); err != nil {
		return err
	}
	return tx.Set([]byte(prefixEvent+eventID), rec)
}

// putKeyTx writes the key of transaction k (stored under sk) with tx, for
// an event that keeps the reverse mapping itself.
func putKeyTx(tx persist.Tx, sk []byte, _ Key, eventID string) error {
	return tx.Set(sk, []byte(eventID))
}

// lock serialises the callers of one transaction key and returns the
// function that releases it.
func (s *Store) lock(key string) func() {
	s.mu.Lock()
	l, ok := s.locks[key]
	if !ok {
		l = &keyLock{}
		s.locks[key] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.locks, key)
		}
		s.mu.Unlock()
	}
}
