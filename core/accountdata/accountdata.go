// Package accountdata keeps users' account data: the per-user JSON objects
// of the client-server API's "Client Config" module, global (by type) and per
// room (by room and type), such as m.direct, m.tag, m.fully_read and
// m.push_rules.
//
// Every write takes a position in the package's own stream (a
// streampos.Stream), so that /sync reads a user's changes since its token
// as a complete prefix: Store implements the sync contract's AccountData
// source. Writes are durable when they return, and then wake the user's
// waiting syncs.
//
// The package stores any type; which types clients may not set directly
// (m.fully_read, m.push_rules) is the HTTP layer's rule, since the server
// itself writes them through this package.
package accountdata

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"hearth/core/streampos"
	"hearth/persist"
)

// Errors callers act on.
var (
	// ErrNotFound means the user has no account data of that type.
	ErrNotFound = errors.New("accountdata: not found")
	// ErrInvalid wraps arguments that cannot be stored: an empty or
	// malformed type, a room ID with a NUL, content that is not a JSON
	// object, or a key too long for the store.
	ErrInvalid = errors.New("accountdata: invalid account data")
)

// MaxTypeLength bounds the length of an account data type, in bytes, so
// that every key fits the store's key size limit.
const MaxTypeLength = 255

// Config is what a Store needs from its surroundings.
type Config struct {
	// Store holds the data under the "accountdata/" prefix.
	Store persist.Store
	// Wake, when set, is called with the user after each durable write,
	// so that the user's waiting /sync requests see it.
	Wake func(users ...string)
	// Defaults, when set, returns the global account data a user has
	// before ever storing it, by type: the server-default push rules as
	// m.push_rules, which clients expect in the first /sync and from GET
	// .../account_data/m.push_rules. It must be cheap and pure.
	Defaults func(userID string) map[string]json.RawMessage
	// DefaultTypes, when set, lists the types Defaults returns, so that
	// reading a type the user never stored (such as m.ignored_user_list,
	// which every /sync reads) does not build the defaults only to find
	// the type missing. Nil means Defaults may hold any type.
	DefaultTypes []string
}

// Store is the account data of every local user. It is safe for
// concurrent use.
type Store struct {
	cfg    Config
	stream *streampos.Stream
}

// New opens the account data in cfg.Store, reading where its stream left
// off.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Store == nil {
		return nil, errors.New("accountdata: Config needs a Store")
	}
	var last uint64
	err := cfg.Store.View(ctx, func(tx persist.Tx) error {
		var err error
		last, err = persist.GetUint64(tx, []byte(keyLast))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("accountdata: open: %w", err)
	}
	return &Store{cfg: cfg, stream: streampos.New(last)}, nil
}

// Position returns the stream position up to which every write is durable
// and visible to Changes.
func (s *Store) Position() uint64 {
	p, _ := s.stream.Position()
	return p
}

// Stream returns the position and a channel closed when it next moves, for
// readers that wait for account data without being woken per user.
func (s *Store) Stream() (uint64, <-chan struct{}) { return s.stream.Position() }

// check validates the parts of a key.
func check(userID, roomID, typ string) error {
	switch {
	case userID == "" || strings.ContainsRune(userID, 0):
		return fmt.Errorf("%w: user ID %q", ErrInvalid, userID)
	case strings.ContainsRune(roomID, 0):
		return fmt.Errorf("%w: room ID %q", ErrInvalid, roomID)
	case typ == "" || len(typ) > MaxTypeLength || strings.ContainsRune(typ, 0):
		return fmt.Errorf("%w: type must be 1 to %d bytes without NUL", ErrInvalid, MaxTypeLength)
	}
	if err := persist.CheckKey(valueKey(userID, roomID, typ)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// checkContent reports whether content is one JSON object.
func checkContent(content []byte) error {
	t := bytes.TrimSpace(content)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return fmt.Errorf("%w: content must be a JSON object", ErrInvalid)
	}
	return nil
}

// Get returns the user's account data of type typ: global when roomID is
// "", else for that room. Global types the user never stored come from
// Config.Defaults; anything else absent is ErrNotFound.
func (s *Store) Get(ctx context.Context, userID, roomID, typ string) (json.RawMessage, error) {
	if err := check(userID, roomID, typ); err != nil {
		return nil, err
	}
	var content []byte
	err := s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		raw, err := tx.Get(valueKey(userID, roomID, typ))
		if err != nil {
			return err
		}
		_, content, err = decodeValue(raw)
		return err
	})
	switch {
	case errors.Is(err, persist.ErrNotFound):
		if s.hasDefault(roomID, typ) {
			if d, ok := s.cfg.Defaults(userID)[typ]; ok {
				return d, nil
			}
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, typ)
	case err != nil:
		return nil, fmt.Errorf("accountdata: get %s: %w", typ, err)
	}
	return content, nil
}

// hasDefault reports whether Config.Defaults may hold a value for typ in
// roomID ("" for global data: defaults are only global).
func (s *Store) hasDefault(roomID, typ string) bool {
	if roomID != "" || s.cfg.Defaults == nil {
		return false
	}
	return s.cfg.DefaultTypes == nil || slices.Contains(s.cfg.DefaultTypes, typ)
}

// Set stores content, a JSON object, as the user's account data of type
// typ (global when roomID is ""), replacing what was there. It returns the
// write's stream position once the write is durable.
func (s *Store) Set(ctx context.Context, userID, roomID, typ string, content json.RawMessage) (uint64, error) {
	if err := checkContent(content); err != nil {
		return 0, err
	}
	return s.Update(ctx, userID, roomID, typ, func(json.RawMessage, bool) (json.RawMessage, error) {
		return content, nil
	})
}

// Update changes the user's account data of type typ atomically: fn gets
// the stored content (or the default, with exists false, when there is
// none) and returns the new content, or nil to leave it unchanged. An
// error from fn is returned unchanged and nothing is written. Update
// returns the write's stream position, or 0 when nothing changed.
//
// fn may run on another goroutine and must not call into the Store.
func (s *Store) Update(ctx context.Context, userID, roomID, typ string, fn func(current json.RawMessage, exists bool) (json.RawMessage, error)) (uint64, error) {
	if err := check(userID, roomID, typ); err != nil {
		return 0, err
	}
	pos := s.stream.Allocate()
	finished := false
	finish := func() {
		if !finished {
			finished = true
			s.stream.Finish(pos)
		}
	}
	defer finish()
	written := false
	err := s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		written = false
		key := valueKey(userID, roomID, typ)
		var current []byte
		var oldPos uint64
		raw, err := tx.Get(key)
		switch {
		case err == nil:
			if oldPos, current, err = decodeValue(raw); err != nil {
				return err
			}
		case errors.Is(err, persist.ErrNotFound):
			if s.hasDefault(roomID, typ) {
				current = s.cfg.Defaults(userID)[typ]
			}
		default:
			return err
		}
		next, err := fn(current, raw != nil)
		if err != nil {
			return rejected{err}
		}
		if next == nil {
			// Nothing to write, but the position was handed out and
			// may reach clients' tokens: it must not be reused after
			// a restart.
			return raiseLast(tx, pos)
		}
		if err := checkContent(next); err != nil {
			return err
		}
		if raw != nil {
			if err := tx.Delete(logKey(userID, oldPos)); err != nil {
				return err
			}
		}
		if err := tx.Set(key, encodeValue(pos, bytes.TrimSpace(next))); err != nil {
			return err
		}
		if err := tx.Set(logKey(userID, pos), []byte(roomID+"\x00"+typ)); err != nil {
			return err
		}
		if err := raiseLast(tx, pos); err != nil {
			return err
		}
		written = true
		return nil
	})
	if r, ok := err.(rejected); ok {
		// fn refused the change, but the position it held may already
		// be in a client's token: record it, so that it is not reused
		// after a restart.
		if perr := s.cfg.Store.Update(ctx, func(tx persist.Tx) error { return raiseLast(tx, pos) }); perr != nil {
			return 0, fmt.Errorf("accountdata: record position: %w", perr)
		}
		return 0, r.err
	}
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return 0, err
		}
		return 0, fmt.Errorf("accountdata: write %s: %w", typ, err)
	}
	if !written {
		return 0, nil
	}
	finish()
	if s.cfg.Wake != nil {
		wakeWhenVisible(s.stream, pos, s.cfg.Wake, userID)
	}
	return pos, nil
}

// wakeWhenVisible calls wake once the stream's watermark reaches pos, so
// that a woken /sync finds the write: a write can finish while an earlier
// position is still being written, and then becomes visible only when
// that one finishes.
func wakeWhenVisible(s *streampos.Stream, pos uint64, wake func(...string), users ...string) {
	p, moved := s.Position()
	if p >= pos {
		wake(users...)
		return
	}
	go func() {
		for p < pos {
			<-moved
			p, moved = s.Position()
		}
		wake(users...)
	}()
}

// rejected carries the error of an Update's fn out of the transaction.
type rejected struct{ err error }

func (r rejected) Error() string { return r.err.Error() }

// raiseLast records pos as the highest position written, unless a
// concurrent writer already recorded a higher one.
func raiseLast(tx persist.Tx, pos uint64) error {
	raw, err := tx.Get([]byte(keyLast))
	if err != nil && !errors.Is(err, persist.ErrNotFound) {
		return err
	}
	if len(raw) == 8 && binary.BigEndian.Uint64(raw) >= pos {
		return nil
	}
	return tx.Set([]byte(keyLast), binary.BigEndian.AppendUint64(nil, pos))
}

// Changes returns the user's account data written at positions in
// (from, to]: global data by type, and per-room data by room and type.
// With from == 0 it returns all of it, global defaults included. Maps
// are nil when empty.
func (s *Store) Changes(ctx context.Context, userID string, from, to uint64) (global map[string]json.RawMessage, rooms map[string]map[string]json.RawMessage, err error) {
	err = s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		opts := persist.IterOptions{Start: logKey(userID, from+1), End: logKey(userID, to+1)}
		if to <= from {
			opts.End = opts.Start
		}
		it := tx.Iterate(opts)
		defer it.Close()
		for it.Next() {
			roomID, typ, err := splitRef(it.Value())
			if err != nil {
				return err
			}
			raw, err := tx.Get(valueKey(userID, roomID, typ))
			if err != nil {
				return fmt.Errorf("accountdata: log names missing %q: %w", typ, err)
			}
			_, content, err := decodeValue(raw)
			if err != nil {
				return err
			}
			if roomID == "" {
				if global == nil {
					global = make(map[string]json.RawMessage)
				}
				global[typ] = content
				continue
			}
			if rooms == nil {
				rooms = make(map[string]map[string]json.RawMessage)
			}
			if rooms[roomID] == nil {
				rooms[roomID] = make(map[string]json.RawMessage)
			}
			rooms[roomID][typ] = content
		}
		if err := it.Err(); err != nil {
			return err
		}
		if from != 0 || s.cfg.Defaults == nil {
			return nil
		}
		// A type first written after to is not in global yet: as of to
		// the user had the default, and the write is a later change.
		for typ, content := range s.cfg.Defaults(userID) {
			if _, ok := global[typ]; ok {
				continue
			}
			if global == nil {
				global = make(map[string]json.RawMessage)
			}
			global[typ] = content
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("accountdata: changes of %s: %w", userID, err)
	}
	return global, rooms, nil
}
