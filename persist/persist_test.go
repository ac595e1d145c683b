package persist_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"hearth/persist"
	"hearth/persist/memory"
)

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{"", ""},
		{"a", "b"},
		{"ab", "ac"},
		{"a\xff", "b"},
		{"a\xff\xff", "b"},
		{"\x00", "\x01"},
		{"\xfe", "\xff"},
		{"\xff", ""},
		{"\xff\xff", ""},
	}
	for _, tt := range tests {
		got := persist.PrefixEnd([]byte(tt.prefix))
		if string(got) != tt.want || (tt.want == "" && got != nil) {
			t.Errorf("PrefixEnd(%q) = %q, want %q", tt.prefix, got, tt.want)
		}
	}
}

func TestBounds(t *testing.T) {
	tests := []struct {
		prefix, start, end string
		lower, upper       string // "" for nil
		empty              bool
	}{
		{"", "", "", "", "", false},
		{"", "b", "", "b", "", false},
		{"", "", "b", "", "b", false},
		{"a", "", "", "a", "b", false},
		{"a", "a5", "", "a5", "b", false},
		{"a", "", "a5", "a", "a5", false},
		{"a", "0", "z", "a", "b", false},
		{"a", "b", "", "b", "b", true},
		{"a", "", "a", "a", "a", true},
		{"\xff", "", "", "\xff", "", false},
		{"a\xff", "", "", "a\xff", "b", false},
		{"", "b", "a", "b", "a", true},
	}
	for _, tt := range tests {
		o := persist.IterOptions{Prefix: []byte(tt.prefix), Start: []byte(tt.start), End: []byte(tt.end)}
		lower, upper := o.Bounds()
		if string(lower) != tt.lower || (tt.lower == "" && lower != nil) ||
			string(upper) != tt.upper || (tt.upper == "" && upper != nil) {
			t.Errorf("Bounds(prefix %q, start %q, end %q) = [%q, %q), want [%q, %q)",
				tt.prefix, tt.start, tt.end, lower, upper, tt.lower, tt.upper)
		}
		if got := persist.Empty(lower, upper); got != tt.empty {
			t.Errorf("Empty(%q, %q) = %v, want %v", lower, upper, got, tt.empty)
		}
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key []byte
		ok  bool
	}{
		{nil, false},
		{[]byte{}, false},
		{[]byte{0}, true},
		{bytes.Repeat([]byte{0xff}, persist.MaxKeySize), true},
		{make([]byte, persist.MaxKeySize+1), false},
	}
	for _, tt := range tests {
		err := persist.CheckKey(tt.key)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, persist.ErrInvalidKey)) {
			t.Errorf("CheckKey(%d bytes) = %v, want ok=%v", len(tt.key), err, tt.ok)
		}
	}
}

// countingStore counts the transactions a batch applies through it.
type countingStore struct {
	*memory.Store
	updates int
}

func (c *countingStore) Update(ctx context.Context, fn func(tx persist.Tx) error) error {
	c.updates++
	return c.Store.Update(ctx, fn)
}

func TestBufferedBatchChunks(t *testing.T) {
	tests := []struct {
		name             string
		maxBytes, maxOps int
		writes, size     int
		wantUpdates      int
	}{
		{"unlimited", 0, 0, 1000, 10, 1},
		{"by ops", 0, 100, 1000, 10, 10},
		{"by ops with remainder", 0, 300, 1000, 10, 4},
		// Each write counts its key (8 bytes), value and 32 bytes of
		// overhead: 100 bytes, so ten fit in 1000.
		{"by bytes", 1000, 0, 1000, 60, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &countingStore{Store: memory.New()}
			b := persist.NewBufferedBatch(t.Context(), s.Update, tt.maxBytes, tt.maxOps)
			for i := range tt.writes {
				if err := b.Set(fmt.Appendf(nil, "k/%06d", i), []byte(strings.Repeat("v", tt.size))); err != nil {
					t.Fatalf("Set: %v", err)
				}
			}
			if err := b.Commit(); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if s.updates != tt.wantUpdates {
				t.Errorf("applied in %d transactions, want %d", s.updates, tt.wantUpdates)
			}
			n := 0
			err := s.View(t.Context(), func(tx persist.Tx) error {
				it := tx.Iterate(persist.IterOptions{KeysOnly: true})
				defer it.Close()
				for it.Next() {
					n++
				}
				return it.Err()
			})
			if err != nil || n != tt.writes {
				t.Errorf("store holds %d keys (%v), want %d", n, err, tt.writes)
			}
		})
	}
}

func TestBufferedBatchStickyError(t *testing.T) {
	errFull := errors.New("full")
	calls := 0
	update := func(ctx context.Context, fn func(tx persist.Tx) error) error {
		calls++
		return errFull
	}
	b := persist.NewBufferedBatch(t.Context(), update, 0, 2)
	if err := b.Set([]byte("a"), nil); err != nil {
		t.Fatalf("first Set: %v", err)
	}
	if err := b.Set([]byte("b"), nil); !errors.Is(err, errFull) {
		t.Fatalf("Set that fills a chunk = %v, want the update error", err)
	}
	if err := b.Delete([]byte("c")); !errors.Is(err, errFull) {
		t.Errorf("Delete after a failed chunk = %v, want the update error", err)
	}
	if err := b.Commit(); !errors.Is(err, errFull) {
		t.Errorf("Commit after a failed chunk = %v, want the update error", err)
	}
	if calls != 1 {
		t.Errorf("update called %d times, want 1", calls)
	}
}

func TestGetUint64(t *testing.T) {
	tests := []struct {
		name    string
		value   []byte // nil: the key is absent
		want    uint64
		wantErr bool
	}{
		{"absent", nil, 0, false},
		{"number", []byte{0, 0, 0, 0, 0, 0, 1, 2}, 258, false},
		{"short", []byte{1, 2, 3}, 0, true},
		{"long", make([]byte, 9), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := oneKeyTx{value: tt.value}
			got, err := persist.GetUint64(tx, []byte("k"))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("GetUint64 = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// oneKeyTx is a transaction holding at most one value, for GetUint64.
type oneKeyTx struct {
	persist.Tx
	value []byte
}

func (tx oneKeyTx) Get([]byte) ([]byte, error) {
	if tx.value == nil {
		return nil, persist.ErrNotFound
	}
	return tx.value, nil
}
