package memory_test

import (
	"testing"

	"hearth/persist"
	"hearth/persist/kvtest"
	"hearth/persist/memory"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(*testing.T) persist.Store { return memory.New() })
}
