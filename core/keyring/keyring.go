// Package keyring is the server's key ring: it answers "which public key is
// key K of server S, and was it valid at time T?" for event signature checks
// (it implements event.KeyLookup) and for inbound request authentication
// (RequestKey, used by package fedauth).
//
// This server's keys come from its configuration. A self-certifying server
// name (package transport/selfcert) carries its key in the name, so there is
// nothing to fetch. Every other server's keys are fetched from its
// GET /_matrix/key/v2/server (or from the configured notary servers with
// POST /_matrix/key/v2/query, falling back to the server itself), checked
// for the server's own signature, kept in memory and persisted, so a restart
// does not refetch every key.
//
// Validity follows the spec: a current key is valid until the response's
// valid_until_ts, capped at seven days after it was fetched; a retired key
// (old_verify_keys) is valid for events before its expired_ts and never for
// requests. When an event is newer than a cached key's validity, the keys are
// fetched again before the key is refused. Concurrent lookups of one server
// share one fetch, and a server is fetched at most once per NegativeTTL, so
// unknown key IDs or a dead server cannot make the ring hammer it.
//
// # Storage layout (prefix "keyring/")
//
//	keyring/key/<server>\x00<key ID>  {"key":<unpadded base64>,"valid_until_ts":<ms>,"old":<bool>}
//	keyring/resp/<server>             the last verified key response, as fetched (served as a notary)
package keyring

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"hearth/core/selfname"
	"math"
	"sync"
	"time"

	"hearth/core/fedclient"
	"hearth/core/serverkey"
	"hearth/core/signing"
	"hearth/persist"
)

// Defaults of Config.
const (
	// DefaultNegativeTTL is how long after a fetch of a server's keys
	// (failed or not) the ring refuses to fetch them again.
	DefaultNegativeTTL = time.Minute
	// DefaultFetchTimeout bounds one fetch of a server's keys.
	DefaultFetchTimeout = 30 * time.Second
	// DefaultKeyValidity is how long the key responses this server
	// signs as a notary for itself are valid.
	DefaultKeyValidity = 24 * time.Hour
	// MaxValidity caps valid_until_ts at this long after fetching, as
	// room versions 5 and later require.
	MaxValidity = 7 * 24 * time.Hour
)

// ErrUnknownKey is wrapped by lookup errors for a key the server does not
// publish (or whose server could not be reached).
var ErrUnknownKey = errors.New("keyring: unknown key")

// ErrExpiredKey is wrapped by lookup errors for a known key that was not
// valid at the time asked about.
var ErrExpiredKey = errors.New("keyring: key not valid at that time")

// Fetcher fetches key responses over federation; *fedclient.Client
// implements it.
type Fetcher interface {
	// GetServerKeys returns destination's own key response, unverified.
	GetServerKeys(ctx context.Context, destination string) ([]byte, error)
	// QueryKeys asks a notary for other servers' key responses.
	QueryKeys(ctx context.Context, notary string, query map[string]map[string]fedclient.KeyCriteria) ([]json.RawMessage, error)
}

// Config configures a Ring.
type Config struct {
	// ServerName is this server's name.
	ServerName string
	// Key is this server's current signing key.
	Key signing.Key
	// OldKeys are this server's retired keys.
	OldKeys []serverkey.OldKey
	// KeyValidity is the validity of key responses this server signs
	// for itself as a notary; 0 means DefaultKeyValidity.
	KeyValidity time.Duration
	// Store persists fetched keys under "keyring/".
	Store persist.Store
	// Fetcher fetches other servers' keys.
	Fetcher Fetcher
	// Notaries are the servers asked for other servers' keys before
	// the servers themselves; none by default. A notary's own keys are
	// always fetched from it directly.
	Notaries []string
	// Now is the clock.
	Now func() time.Time
	// NegativeTTL is the least time between two fetches of one
	// server's keys; 0 means DefaultNegativeTTL.
	NegativeTTL time.Duration
	// FetchTimeout bounds one fetch; 0 means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// MaxServers bounds how many servers the ring keeps in memory, so
	// that requests naming invented servers cannot grow it without end;
	// 0 means DefaultMaxServers. Evicted servers' keys are read back
	// from the store when needed again.
	MaxServers int
}

// DefaultMaxServers is the default of Config.MaxServers.
const DefaultMaxServers = 10000

// Ring caches and fetches server keys. It is safe for concurrent use.
type Ring struct {
	cfg     Config
	own     map[string]keyInfo
	notary  map[string]bool
	mu      sync.Mutex
	servers map[string]*server
}

// keyInfo is one known key.
type keyInfo struct {
	pub ed25519.PublicKey
	// validUntil is the last millisecond at which the key may be used:
	// the capped valid_until_ts of a current key, expired_ts of an old
	// one.
	validUntil int64
	old        bool
}

// server is what the ring knows about one remote server.
type server struct {
	loaded    bool // the store has been read
	keys      map[string]keyInfo
	raw       []byte // last verified response
	rawUntil  int64  // its valid_until_ts, uncapped
	lastFetch time.Time
	lastErr   error
	inflight  *call
}

// call is a fetch in progress, shared by concurrent lookups.
type call struct {
	done chan struct{}
	err  error
}

// New checks cfg and returns a ring.
func New(cfg Config) (*Ring, error) {
	if cfg.ServerName == "" {
		return nil, errors.New("keyring: empty server name")
	}
	if err := cfg.Key.Validate(); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if cfg.Store == nil || cfg.Fetcher == nil || cfg.Now == nil {
		return nil, errors.New("keyring: Store, Fetcher and Now are required")
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.KeyValidity <= 0 {
		cfg.KeyValidity = DefaultKeyValidity
	}
	if cfg.MaxServers <= 0 {
		cfg.MaxServers = DefaultMaxServers
	}
	r := &Ring{
		cfg:     cfg,
		own:     map[string]keyInfo{cfg.Key.ID: {pub: cfg.Key.Public(), validUntil: math.MaxInt64}},
		notary:  make(map[string]bool, len(cfg.Notaries)),
		servers: make(map[string]*server),
	}
	for _, old := range cfg.OldKeys {
		r.own[old.ID] = keyInfo{pub: old.Public, validUntil: old.ExpiredTS, old: true}
	}
	for _, n := range cfg.Notaries {
		r.notary[n] = true
	}
	return r, nil
}

// VerifyKey implements event.KeyLookup: it returns key keyID of serverName,
// which must have been valid at atTS (milliseconds) unless atTS is 0. It
// may fetch, bounded by the configured timeout.
func (r *Ring) VerifyKey(serverName, keyID string, atTS int64) (ed25519.PublicKey, error) {
	return r.VerifyKeyContext(context.Background(), serverName, keyID, atTS)
}

// VerifyKeyContext is VerifyKey with a context for the fetch it may do.
func (r *Ring) VerifyKeyContext(ctx context.Context, serverName, keyID string, atTS int64) (ed25519.PublicKey, error) {
	return r.lookup(ctx, serverName, keyID, atTS, false)
}

// RequestKey returns key keyID of serverName for checking an X-Matrix
// request signature now: only current keys (verify_keys) qualify, and
// they must still be valid.
func (r *Ring) RequestKey(ctx context.Context, serverName, keyID string) (ed25519.PublicKey, error) {
	return r.lookup(ctx, serverName, keyID, 0, true)
}

// usable reports whether k may be used at atTS (request: for a request
// received at now).
func usable(k keyInfo, atTS int64, request bool, nowMS int64) bool {
	if request {
		return !k.old && k.validUntil >= nowMS
	}
	return atTS <= 0 || atTS <= k.validUntil
}

func (r *Ring) lookup(ctx context.Context, serverName, keyID string, atTS int64, request bool) (ed25519.PublicKey, error) {
	nowMS := r.cfg.Now().UnixMilli()
	if serverName == r.cfg.ServerName {
		k, ok := r.own[keyID]
		if !ok {
			return nil, fmt.Errorf("%w: %s of this server", ErrUnknownKey, keyID)
		}
		if !usable(k, atTS, request, nowMS) {
			return nil, fmt.Errorf("%w: %s of this server", ErrExpiredKey, keyID)
		}
		return k.pub, nil
	}
	if _, ok := selfname.Parse(serverName); ok {
		// The name is the key: nothing to fetch, no expiry.
		pub, ok := selfname.VerifyKey(serverName, keyID)
		if !ok {
			return nil, fmt.Errorf("%w: %s of self-certifying %s (only %s exists)", ErrUnknownKey, keyID, serverName, selfname.KeyID)
		}
		return pub, nil
	}
	if serverName == "" || keyID == "" {
		return nil, fmt.Errorf("%w: empty server name or key ID", ErrUnknownKey)
	}
	for attempt := 0; ; attempt++ {
		k, ok, err := r.cached(ctx, serverName, keyID)
		if err != nil {
			return nil, err
		}
		if ok && usable(k, atTS, request, nowMS) {
			return k.pub, nil
		}
		if ok && k.old && attempt == 0 {
			// A retired key never becomes current again.
			return nil, fmt.Errorf("%w: retired key %s of %s expired at %d", ErrExpiredKey, keyID, serverName, k.validUntil)
		}
		if attempt > 0 {
			if ok {
				return nil, fmt.Errorf("%w: %s of %s is valid until %d", ErrExpiredKey, keyID, serverName, k.validUntil)
			}
			if err := r.lastError(serverName); err != nil {
				return nil, fmt.Errorf("%w: %s of %s: %w", ErrUnknownKey, keyID, serverName, err)
			}
			return nil, fmt.Errorf("%w: %s of %s", ErrUnknownKey, keyID, serverName)
		}
		// The fetch's own error is reported by lastError on the next
		// round, after the cache has been looked at once more: a
		// failed fetch may still have left the key usable.
		r.refresh(ctx, serverName)
		nowMS = r.cfg.Now().UnixMilli()
	}
}

// CachedServers returns how many servers the ring holds in memory.
func (r *Ring) CachedServers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.servers)
}

// state returns the entry of serverName, creating it; r.mu must be held.
// When the ring is full, an entry with no fetch in flight makes room: map
// order picks it at random, which is cheap and cannot be steered by the
// names a peer sends.
func (r *Ring) state(serverName string) *server {
	s := r.servers[serverName]
	if s == nil {
		if len(r.servers) >= r.cfg.MaxServers {
			for name, old := range r.servers {
				if old.inflight == nil {
					delete(r.servers, name)
					break
				}
			}
		}
		s = &server{keys: make(map[string]keyInfo)}
		r.servers[serverName] = s
	}
	return s
}

// cached returns the cached key, loading the server's keys from the store
// the first time.
func (r *Ring) cached(ctx context.Context, serverName, keyID string) (keyInfo, bool, error) {
	r.mu.Lock()
	s := r.state(serverName)
	if s.loaded {
		k, ok := s.keys[keyID]
		r.mu.Unlock()
		return k, ok, nil
	}
	r.mu.Unlock()
	keys, raw, err := r.load(ctx, serverName)
	if err != nil {
		return keyInfo{}, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !s.loaded {
		s.loaded = true
		for id, k := range keys {
			mergeKey(s.keys, id, k)
		}
		if raw != nil && s.raw == nil {
			s.raw = raw
			if ks, err := serverkey.Parse(raw); err == nil {
				s.rawUntil = ks.ValidUntilTS
			}
		}
	}
	k, ok := s.keys[keyID]
	return k, ok, nil
}

// lastError returns the error of the server's last fetch, if it failed.
func (r *Ring) lastError(serverName string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state(serverName).lastErr
}

// mergeKey records k under id, keeping the longer validity when the same
// public key is known already: a window in which a key was valid stays
// valid.
func mergeKey(keys map[string]keyInfo, id string, k keyInfo) {
	if cur, ok := keys[id]; ok && cur.pub.Equal(k.pub) {
		if cur.validUntil > k.validUntil {
			k.validUntil = cur.validUntil
		}
		k.old = k.old && cur.old
	}
	keys[id] = k
}

// refresh fetches the server's keys unless a fetch is running (then it
// waits for it) or one finished less than NegativeTTL ago. It returns
// once the cache holds whatever the fetch brought.
func (r *Ring) refresh(ctx context.Context, serverName string) {
	r.mu.Lock()
	s := r.state(serverName)
	if c := s.inflight; c != nil {
		r.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
		}
		return
	}
	if !s.lastFetch.IsZero() && r.cfg.Now().Sub(s.lastFetch) < r.cfg.NegativeTTL {
		r.mu.Unlock()
		return
	}
	c := &call{done: make(chan struct{})}
	s.inflight = c
	r.mu.Unlock()

	// The fetch outlives a caller that gives up: others may be waiting.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.FetchTimeout)
	fetched, responses, err := r.fetch(fctx, serverName)
	cancel()
	if err == nil {
		err = r.save(context.WithoutCancel(ctx), serverName, fetched, responses)
	}

	r.mu.Lock()
	for id, k := range fetched {
		mergeKey(s.keys, id, k)
	}
	if n := len(responses); n > 0 {
		s.raw, s.rawUntil = responses[n-1].raw, responses[n-1].validUntil
	}
	s.lastFetch = r.cfg.Now()
	s.lastErr = err
	s.inflight = nil
	r.mu.Unlock()
	c.err = err
	close(c.done)
}

// response is one verified key response.
type response struct {
	raw        []byte
	validUntil int64
}

// fetch gets the server's keys from the notaries, then from the server
// itself, and returns them verified and with validity capped.
func (r *Ring) fetch(ctx context.Context, serverName string) (map[string]keyInfo, []response, error) {
	var errs []error
	if !r.notary[serverName] {
		for _, notary := range r.cfg.Notaries {
			keys, resps, err := r.fetchFromNotary(ctx, notary, serverName)
			if err == nil {
				return keys, resps, nil
			}
			errs = append(errs, err)
		}
	}
	raw, err := r.cfg.Fetcher.GetServerKeys(ctx, serverName)
	if err != nil {
		errs = append(errs, fmt.Errorf("keyring: fetch keys of %s: %w", serverName, err))
		return nil, nil, errors.Join(errs...)
	}
	keys, until, err := r.verifyResponse(serverName, raw)
	if err != nil {
		errs = append(errs, err)
		return nil, nil, errors.Join(errs...)
	}
	return keys, []response{{raw: raw, validUntil: until}}, nil
}

// fetchFromNotary asks notary for serverName's keys and keeps the
// responses that carry both the server's and the notary's signatures.
func (r *Ring) fetchFromNotary(ctx context.Context, notary, serverName string) (map[string]keyInfo, []response, error) {
	raws, err := r.cfg.Fetcher.QueryKeys(ctx, notary, map[string]map[string]fedclient.KeyCriteria{serverName: {}})
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: keys of %s from notary %s: %w", serverName, notary, err)
	}
	keys := make(map[string]keyInfo)
	var resps []response
	var errs []error
	for _, raw := range raws {
		got, until, err := r.verifyResponse(serverName, raw)
		if err == nil {
			err = r.checkNotarySignature(ctx, notary, raw)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for id, k := range got {
			mergeKey(keys, id, k)
		}
		resps = append(resps, response{raw: raw, validUntil: until})
	}
	if len(resps) == 0 {
		errs = append(errs, errors.New("no usable response"))
		return nil, nil, fmt.Errorf("keyring: keys of %s from notary %s: %w", serverName, notary, errors.Join(errs...))
	}
	return keys, resps, nil
}

// checkNotarySignature checks that raw carries a valid signature of the
// notary with one of its current keys.
func (r *Ring) checkNotarySignature(ctx context.Context, notary string, raw []byte) error {
	obj, err := signing.ParseObject(raw)
	if err != nil {
		return fmt.Errorf("keyring: notary %s: %w", notary, err)
	}
	sigs, err := obj.Signatures()
	if err != nil {
		return fmt.Errorf("keyring: notary %s: %w", notary, err)
	}
	for _, sig := range sigs {
		if sig.SigningName != notary {
			continue
		}
		pub, err := r.RequestKey(ctx, notary, sig.KeyID)
		if err != nil {
			continue
		}
		if err := signing.VerifyJSON(raw, notary, sig.KeyID, pub); err == nil {
			return nil
		}
	}
	return fmt.Errorf("keyring: response is not signed by notary %s with a key it publishes", notary)
}

// verifyResponse checks a key response of serverName and returns its keys
// with capped validity, and its uncapped valid_until_ts.
func (r *Ring) verifyResponse(serverName string, raw []byte) (map[string]keyInfo, int64, error) {
	ks, err := serverkey.Verify(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("keyring: keys of %s: %w", serverName, err)
	}
	if ks.ServerName != serverName {
		return nil, 0, fmt.Errorf("keyring: keys of %s: response is for %q", serverName, ks.ServerName)
	}
	limit := r.cfg.Now().Add(MaxValidity).UnixMilli()
	until := min(ks.ValidUntilTS, limit)
	keys := make(map[string]keyInfo, len(ks.VerifyKeys)+len(ks.OldVerifyKeys))
	for id, old := range ks.OldVerifyKeys {
		keys[id] = keyInfo{pub: old.Public, validUntil: old.ExpiredTS, old: true}
	}
	for id, pub := range ks.VerifyKeys {
		keys[id] = keyInfo{pub: pub, validUntil: until}
	}
	return keys, ks.ValidUntilTS, nil
}
