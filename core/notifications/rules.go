package notifications

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"hearth/core/accountdata"
	"hearth/core/pushrules"
)

// PushRulesType is the account data type that holds a user's push rules.
const PushRulesType = "m.push_rules"

// localpart returns the localpart of a user ID, "" if it has none.
func localpart(userID string) string {
	rest, _ := strings.CutPrefix(userID, "@")
	l, _, _ := strings.Cut(rest, ":")
	return l
}

// AccountDataDefaults returns the global account data every user has before
// storing any: the server-default push rules as m.push_rules. Wire it as
// accountdata.Config.Defaults, so that a first /sync and GET
// /user/{userId}/account_data/m.push_rules show the rules in force.
func AccountDataDefaults(userID string) map[string]json.RawMessage {
	raw, err := json.Marshal(pushrules.Defaults(userID, localpart(userID)))
	if err != nil {
		// The default ruleset is plain data that always encodes.
		panic(fmt.Sprintf("notifications: encoding default push rules: %v", err))
	}
	return map[string]json.RawMessage{PushRulesType: raw}
}

// decodeRules reads stored m.push_rules content, laid over the current
// defaults; nil content means the defaults.
func decodeRules(userID string, raw json.RawMessage) (pushrules.Ruleset, error) {
	if raw == nil {
		return pushrules.Defaults(userID, localpart(userID)), nil
	}
	var rs pushrules.Ruleset
	if err := json.Unmarshal(raw, &rs); err != nil {
		return pushrules.Ruleset{}, fmt.Errorf("notifications: stored push rules of %s: %w", userID, err)
	}
	return pushrules.Upgrade(rs, userID, localpart(userID)), nil
}

// Rules returns the user's push rules: what they stored, over the current
// server defaults. This is the body of GET /pushrules/.
func (s *Service) Rules(ctx context.Context, userID string) (pushrules.Ruleset, error) {
	raw, err := s.cfg.AccountData.Get(ctx, userID, "", PushRulesType)
	if errors.Is(err, accountdata.ErrNotFound) {
		raw, err = nil, nil
	}
	if err != nil {
		return pushrules.Ruleset{}, err
	}
	return decodeRules(userID, raw)
}

// EditRules changes the user's push rules atomically: edit gets the current
// rules and changes them in place; its error (typically a
// matrixerr.Error from core/pushrules) is returned unchanged and nothing is saved. The result
// is stored as the m.push_rules account data, which syncs to the user's
// clients.
func (s *Service) EditRules(ctx context.Context, userID string, edit func(*pushrules.Ruleset) error) error {
	_, err := s.cfg.AccountData.Update(ctx, userID, "", PushRulesType, func(cur json.RawMessage, _ bool) (json.RawMessage, error) {
		rs, err := decodeRules(userID, cur)
		if err != nil {
			return nil, err
		}
		if err := edit(&rs); err != nil {
			return nil, err
		}
		return json.Marshal(rs)
	})
	s.rules.invalidate(userID)
	return err
}

// rulesFor returns the user's rules compiled for evaluation, from the
// cache when they have not changed since it was filled.
func (s *Service) rulesFor(ctx context.Context, userID string) (*pushrules.Compiled, error) {
	if c, ok := s.rules.get(userID); ok {
		return c, nil
	}
	gen := s.rules.generation()
	rs, err := s.Rules(ctx, userID)
	if err != nil {
		return nil, err
	}
	c := pushrules.Compile(rs)
	s.rules.put(userID, c, gen)
	return c, nil
}

// maxCachedRules bounds the rulesets kept compiled in memory.
const maxCachedRules = 4096

// rulesCache keeps compiled rulesets, so that an event in a large room does
// not decode and compile every member's rules again. A compiled ruleset is
// never modified, so evaluations share it without copying. A write
// invalidates its user's entry and bumps the generation, so that a load
// that raced with any write does not put old rules back.
type rulesCache struct {
	mu      sync.Mutex
	entries map[string]*pushrules.Compiled
	gen     uint64
}

func newRulesCache() *rulesCache {
	return &rulesCache{entries: make(map[string]*pushrules.Compiled)}
}

func (c *rulesCache) get(userID string) (*pushrules.Compiled, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs, ok := c.entries[userID]
	return rs, ok
}

// generation returns the write count under which a load starts.
func (c *rulesCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *rulesCache) put(userID string, rs *pushrules.Compiled, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= maxCachedRules {
		for u := range c.entries {
			delete(c.entries, u)
			break
		}
	}
	c.entries[userID] = rs
}

func (c *rulesCache) invalidate(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, userID)
	c.gen++
}
