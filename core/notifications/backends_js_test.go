//go:build js

package notifications

import (
	"testing"

	"hearth/persist"
	"hearth/persist/memory"
)

// testBackends are the stores the storage tests run over; badger needs a
// file system.
var testBackends = []struct {
	name string
	open func(t testing.TB) persist.Store
}{
	{"memory", func(testing.TB) persist.Store { return memory.New() }},
}
