//go:build !js

package notifications

import (
	"testing"

	"hearth/persist"
	"hearth/persist/badger"
	"hearth/persist/memory"
)

// testBackends are the stores the storage tests run over: badger keeps
// deleted keys as tombstones and iterates its own writes differently
// from memory, so both are worth covering.
var testBackends = []struct {
	name string
	open func(t testing.TB) persist.Store
}{
	{"memory", func(testing.TB) persist.Store { return memory.New() }},
	{"badger", func(t testing.TB) persist.Store {
		s, err := badger.Open(t.TempDir(), badger.WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}
