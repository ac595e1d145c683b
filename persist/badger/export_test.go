//go:build !js

package badger

// WithApplyAt sets how many bytes of keys and values synced groups gather
// before the store applies them to BadgerDB, so that the suites run with
// every group applied at once as well as with groups held in memory.
func WithApplyAt(n int64) Option {
	return func(c *config) { c.applyAt = n }
}
