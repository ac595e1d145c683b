package pushrules

import (
	"encoding/json"
	"sync"

	"hearth/core/internal/dotpath"
)

// Evaluation runs every rule of every member for every event, and rules
// are few and shared (the defaults, plus each user's own): compiling a
// glob, splitting a key path or decoding a scalar anew each time was most
// of the evaluator's work. These memos keep the results, which are never
// modified after they are made. Each is bounded: past memoLimit entries it
// starts over, so odd rules cannot grow it without bound.

const memoLimit = 4096

type memo[V any] struct {
	mu sync.RWMutex
	m  map[string]V
}

// get returns the value for key, made by build when missing. key is bytes
// so that looking up raw JSON does not copy it.
func (c *memo[V]) get(key []byte, build func() V) V {
	c.mu.RLock()
	v, ok := c.m[string(key)]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = build()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= memoLimit {
		c.m = make(map[string]V)
	}
	c.m[string(key)] = v
	c.mu.Unlock()
	return v
}

// getString is get for a string key.
func (c *memo[V]) getString(key string, build func() V) V {
	c.mu.RLock()
	v, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = build()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= memoLimit {
		c.m = make(map[string]V)
	}
	c.m[key] = v
	c.mu.Unlock()
	return v
}

type scalarResult struct {
	v  scalar
	ok bool
}

var (
	globMemo    memo[*glob]
	literalMemo memo[*glob]
	pathMemo    memo[[]string]
	scalarMemo  memo[scalarResult]
)

// cachedGlob is compileGlob through the memo.
func cachedGlob(pattern string) *glob {
	return globMemo.getString(pattern, func() *glob { return compileGlob(pattern) })
}

// cachedLiteral is literalGlob through the memo.
func cachedLiteral(s string) *glob {
	return literalMemo.getString(s, func() *glob { return literalGlob(s) })
}

// cachedPath is dotpath.Split through the memo; callers must not modify
// the result.
func cachedPath(key string) []string {
	return pathMemo.getString(key, func() []string { return dotpath.Split(key) })
}

// cachedScalar is decodeScalar through the memo.
func cachedScalar(raw json.RawMessage) (scalar, bool) {
	r := scalarMemo.get(raw, func() scalarResult {
		v, ok := decodeScalar(raw)
		return scalarResult{v, ok}
	})
	return r.v, r.ok
}
