package syncapi

import (
	"sync"

	"hearth/core/filter"
)

// filterCacheSize bounds the parsed filters a filterCache keeps.
const filterCacheSize = 256

// filterCache keeps parsed sync filters by their JSON. A client sends the
// same filter (inline, or the stored one its ID names) with every /sync,
// and parsing it again each time was nearly a tenth of a busy sync's CPU.
// Parsed filters are only read, so requests share them. The zero value is
// ready to use.
type filterCache struct {
	mu     sync.Mutex
	parsed map[string]*filter.Filter
}

// parse returns raw parsed, as filter.Parse does, from the cache when it
// parsed the same JSON before. Invalid filters are not kept.
func (c *filterCache) parse(raw []byte) (*filter.Filter, error) {
	c.mu.Lock()
	f, ok := c.parsed[string(raw)]
	c.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := filter.Parse(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.parsed == nil || len(c.parsed) >= filterCacheSize {
		// Start over rather than track use: clients reuse few filters.
		c.parsed = make(map[string]*filter.Filter)
	}
	c.parsed[string(raw)] = f
	c.mu.Unlock()
	return f, nil
}
