package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	"hearth/persist"
)

// Access token shape.
const (
	// AccessTokenPrefix starts every access token hearth issues, so that a
	// leaked one is recognisable (by secret scanners, say).
	AccessTokenPrefix = "hth_"
	// accessTokenRandom is the number of random [A-Za-z0-9] characters
	// after the prefix: about 238 bits.
	accessTokenRandom = 40
	// maxAccessTokenLength bounds the tokens Authenticate looks up at all.
	maxAccessTokenLength = 512
)

// LastSeenInterval is how stale a device's last-seen time may get:
// Authenticate records a device's use at most once per interval, so that
// requests do not each cost a write.
const LastSeenInterval = 5 * time.Minute

// maxCachedTokens bounds the token cache; when full it starts afresh.
const maxCachedTokens = 1 << 16

// ErrUnknownAccessToken reports an access token that is not (or no longer)
// valid.
var ErrUnknownAccessToken = errors.New("accounts: unknown access token")

// accessRecord is an access token as stored, under the token's hash.
type accessRecord struct {
	UserID    string `json:"user_id"`
	DeviceID  string `json:"device_id"`
	CreatedTS int64  `json:"created_ts"`
}

func (a *Accounts) newAccessToken() (string, error) {
	s, err := a.randomString(accessTokenRandom, alnum)
	if err != nil {
		return "", err
	}
	return AccessTokenPrefix + s, nil
}

func hashAccessToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func accessKey(hash string) []byte { return []byte(AccessPrefix + hash) }

// unknownToken is the error clients get for a token that is not valid.
func unknownToken() error {
	return matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unrecognised access token")
}

// Authenticate resolves an access token to its user and device, for
// clientapi.Router. An unknown, revoked or malformed token gets a
// matrixerr.Error with M_UNKNOWN_TOKEN (401). Lookups are cached in memory;
// every change that revokes a token drops it from the cache once the
// revocation is durable.
//
// Authenticate also records when (and, given WithClientIP, from where) the
// device was last seen, at most once per LastSeenInterval. That record is
// best effort: a failure to write it does not fail the request.
func (a *Accounts) Authenticate(ctx context.Context, token string) (clientapi.Caller, error) {
	if token == "" || len(token) > maxAccessTokenLength {
		return clientapi.Caller{}, unknownToken()
	}
	h := hashAccessToken(token)
	e, gen, ok := a.cache.lookup(h)
	if !ok {
		var rec accessRecord
		var dev deviceRecord
		err := a.store.View(ctx, func(tx persist.Tx) error {
			if err := getJSON(tx, accessKey(h), &rec); err != nil {
				return err
			}
			localpart, err := a.localpart(rec.UserID)
			if err != nil {
				return err
			}
			return getJSON(tx, deviceKey(localpart, rec.DeviceID), &dev)
		})
		if errors.Is(err, persist.ErrNotFound) || errors.Is(err, ErrUserNotFound) || (err == nil && dev.TokenHash != h) {
			return clientapi.Caller{}, unknownToken()
		}
		if err != nil {
			return clientapi.Caller{}, err
		}
		e = &cacheEntry{userID: rec.UserID, deviceID: rec.DeviceID, lastSeen: dev.LastSeenTS}
		a.cache.add(h, e, gen)
	}
	a.touch(ctx, h, e)
	return clientapi.Caller{UserID: e.userID, DeviceID: e.deviceID, AccessToken: token}, nil
}

// touch records that the device behind token hash h was seen, if its last
// record is older than LastSeenInterval.
func (a *Accounts) touch(ctx context.Context, h string, e *cacheEntry) {
	now := a.now().UnixMilli()
	if !a.cache.claimTouch(e, now) {
		return
	}
	ip := ClientIP(ctx)
	localpart, err := a.localpart(e.userID)
	if err != nil {
		return
	}
	key := deviceKey(localpart, e.deviceID)
	// Best effort, as documented on Authenticate.
	_ = a.store.Update(ctx, func(tx persist.Tx) error {
		var rec deviceRecord
		if err := getJSON(tx, key, &rec); err != nil {
			return err
		}
		if rec.TokenHash != h {
			return nil // logged out or replaced meanwhile
		}
		rec.LastSeenTS = now
		if ip != "" {
			rec.LastSeenIP = ip
		}
		return putJSON(tx, key, rec)
	})
}

type clientIPKey struct{}

// WithClientIP returns a context that carries the address a request came
// from, for Authenticate to record as the device's last_seen_ip. The server
// sets it on every request, after deciding whether to trust proxy headers.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP returns the address WithClientIP put in ctx, or "".
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// tokenCache remembers access token lookups by token hash. A generation
// counter keeps a lookup that raced with a revocation from caching what it
// read before the revocation.
type tokenCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]*cacheEntry
}

type cacheEntry struct {
	userID, deviceID string
	// lastSeen is the last-seen time last written for the device, in
	// milliseconds; guarded by tokenCache.mu.
	lastSeen int64
}

func newTokenCache() *tokenCache { return &tokenCache{m: make(map[string]*cacheEntry)} }

// lookup returns the entry for h, or the generation to pass to add.
func (c *tokenCache) lookup(h string) (*cacheEntry, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[h]
	return e, c.gen, ok
}

// add caches e under h unless a revocation happened since lookup gave gen.
func (c *tokenCache) add(h string, e *cacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= maxCachedTokens {
		c.m = make(map[string]*cacheEntry)
	}
	c.m[h] = e
}

// invalidate drops token hashes from the cache; call it after their
// revocation is durable.
func (c *tokenCache) invalidate(hashes ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, h := range hashes {
		delete(c.m, h)
	}
}

// claimTouch reports whether the device of e is due a last-seen write at
// now, and if so marks it written, so that concurrent requests write once.
func (c *tokenCache) claimTouch(e *cacheEntry, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now-e.lastSeen < LastSeenInterval.Milliseconds() {
		return false
	}
	e.lastSeen = now
	return true
}
