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

// applies are the ways groups reach BadgerDB: gathered in memory until
// they are worth a commit (the default), or each as soon as it is synced.
var applies = []struct {
	name string
	opts []badger.Option
}{
	{"gathered", nil},
	{"each at once", []badger.Option{badger.WithApplyAt(1)}},
}

func TestConformance(t *testing.T) {
	for _, a := range applies {
		t.Run(a.name, func(t *testing.T) {
			kvtest.Run(t, func(t *testing.T) persist.Store { return open(t, t.TempDir(), a.opts...) })
		})
	}
}

func TestDurable(t *testing.T) {
	for _, a := range applies {
		t.Run(a.name, func(t *testing.T) {
			kvtest.RunDurable(t, func(t *testing.T, dir string) persist.Store { return open(t, dir, a.opts...) })
		})
	}
}

// TestSmallMemTable runs the suite with a small memtable: transactions and
// batches then exceed a single group commit, groups split, and memtables
// rotate often; every group is applied at once, so BadgerDB sees them all.
func TestSmallMemTable(t *testing.T) {
	opts := []badger.Option{badger.WithMemTableSize(4 << 20), badger.WithApplyAt(1)}
	kvtest.Run(t, func(t *testing.T) persist.Store { return open(t, t.TempDir(), opts...) })
	kvtest.RunDurable(t, func(t *testing.T, dir string) persist.Store { return open(t, dir, opts...) })
}

// TestValueLog runs the suite with some of its keys in the value log's
// database: reads, writes and iterations then span both databases.
func TestValueLog(t *testing.T) {
	for _, mem := range []int64{64 << 20, 4 << 20} {
		for _, a := range applies {
			opts := append([]badger.Option{badger.WithValueLog("b", "k", "large/", "p/"), badger.WithMemTableSize(mem)}, a.opts...)
			t.Run(fmt.Sprintf("memtable %d MiB, %s", mem>>20, a.name), func(t *testing.T) {
				kvtest.Run(t, func(t *testing.T) persist.Store { return open(t, t.TempDir(), opts...) })
				kvtest.RunDurable(t, func(t *testing.T, dir string) persist.Store { return open(t, dir, opts...) })
			})
		}
	}
}
