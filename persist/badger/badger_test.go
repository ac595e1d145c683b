//go:build !js

package badger_test

import (
	"fmt"
	"log/slog"
	"testing"

	"hearth/persist"
	"hearth/persist/badger"
	"hearth/persist/kvtest"
)

// open opens a store in dir that logs to the test's output.
func open(t *testing.T, dir string, opts ...badger.Option) *badger.Store {
	t.Helper()
	opts = append([]badger.Option{badger.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil)))}, opts...)
	s, err := badger.Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) persist.Store { return open(t, t.TempDir()) })
}

func TestDurable(t *testing.T) {
	kvtest.RunDurable(t, func(t *testing.T, dir string) persist.Store { return open(t, dir) })
}

// TestSmallMemTable runs the suite with a small memtable: transactions and
// batches then exceed a single group commit, groups split, and memtables
// rotate often.
func TestSmallMemTable(t *testing.T) {
	small := badger.WithMemTableSize(4 << 20)
	kvtest.Run(t, func(t *testing.T) persist.Store { return open(t, t.TempDir(), small) })
	kvtest.RunDurable(t, func(t *testing.T, dir string) persist.Store { return open(t, dir, small) })
}

// TestValueLog runs the suite with some of its keys in the value log's
// database: reads, writes and iterations then span both databases.
func TestValueLog(t *testing.T) {
	for _, mem := range []int64{64 << 20, 4 << 20} {
		opts := []badger.Option{badger.WithValueLog("b", "k", "large/", "p/"), badger.WithMemTableSize(mem)}
		t.Run(fmt.Sprintf("memtable %d MiB", mem>>20), func(t *testing.T) {
			kvtest.Run(t, func(t *testing.T) persist.Store { return open(t, t.TempDir(), opts...) })
			kvtest.RunDurable(t, func(t *testing.T, dir string) persist.Store { return open(t, dir, opts...) })
		})
	}
}
