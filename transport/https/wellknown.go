package https

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// .well-known fetching and caching.
const (
	// wellKnownTimeout bounds one .well-known fetch, redirects included.
	wellKnownTimeout = 30 * time.Second
	// maxWellKnownBody is the most of a .well-known body that is read.
	maxWellKnownBody = 64 << 10
	// maxRedirects is how many redirects a .well-known fetch follows.
	maxRedirects = 5
	// defaultWellKnownLifetime is how long an answer without caching
	// headers is kept, as the spec recommends.
	defaultWellKnownLifetime = 24 * time.Hour
	// maxWellKnownLifetime caps the lifetime of any answer.
	maxWellKnownLifetime = 48 * time.Hour
	// wellKnownErrorLifetime is how long a failed or invalid answer is
	// kept before asking again.
	wellKnownErrorLifetime = time.Hour
	// wellKnownPruneSize is the cache size past which expired entries are
	// dropped when a new one is added.
	wellKnownPruneSize = 1024
)

// wellKnownEntry is a cached .well-known answer, or one being fetched.
type wellKnownEntry struct {
	// done is closed once the fields below are set.
	done chan struct{}
	// delegated is m.server from a valid answer, "" otherwise.
	delegated string
	// err says why there is no valid answer, for diagnostics.
	err error
	// expires is when the entry must be fetched again.
	expires time.Time
}

// lookupWellKnown returns the delegated server name that host's
// /.well-known/matrix/server names, and whether it named a valid one, from
// the cache or by fetching it. The fetch runs detached from ctx, so that a
// caller giving up does not make a failure that is then cached for others;
// err is set only when ctx ends first.
func (t *Transport) lookupWellKnown(ctx context.Context, host string) (delegated string, ok bool, err error) {
	t.mu.Lock()
	e := t.cache[host]
	if e == nil || e.expired(t.now()) {
		e = &wellKnownEntry{done: make(chan struct{})}
		t.pruneLocked()
		t.cache[host] = e
		go t.fetchInto(host, e)
	}
	t.mu.Unlock()
	select {
	case <-e.done:
		return e.delegated, e.delegated != "", nil
	case <-ctx.Done():
		return "", false, fmt.Errorf(".well-known of %s: %w", host, ctx.Err())
	}
}

// expired reports whether e was fetched and has outlived its lifetime.
func (e *wellKnownEntry) expired(now time.Time) bool {
	select {
	case <-e.done:
		return !now.Before(e.expires)
	default:
		return false
	}
}

// pruneLocked drops expired entries once the cache has grown large. t.mu is
// held.
func (t *Transport) pruneLocked() {
	if len(t.cache) < wellKnownPruneSize {
		return
	}
	now := t.now()
	for host, e := range t.cache {
		if e.expired(now) {
			delete(t.cache, host)
		}
	}
}

// fetchInto fetches host's .well-known answer into e and marks it done.
func (t *Transport) fetchInto(host string, e *wellKnownEntry) {
	delegated, lifetime, err := t.fetchWellKnown(host)
	if err != nil {
		lifetime = wellKnownErrorLifetime
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e.delegated, e.err, e.expires = delegated, err, t.now().Add(lifetime)
	close(e.done)
}

// wellKnownURL is the .well-known URL of host.
func (t *Transport) wellKnownURL(host string) string {
	if t.wellKnownPort != "" {
		host = net.JoinHostPort(host, t.wellKnownPort)
	}
	return "https://" + host + "/.well-known/matrix/server"
}

// fetchWellKnown GETs host's .well-known answer and returns the delegated
// server name with how long to cache it, or an error for a failed request, a
// status other than 200 or an invalid body.
func (t *Transport) fetchWellKnown(host string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(t.base, wellKnownTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.wellKnownURL(host), nil)
	if err != nil {
		return "", 0, fmt.Errorf(".well-known of %s: %w", host, err)
	}
	resp, err := t.wellKnown.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf(".well-known of %s: %w", host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf(".well-known of %s: status %s", host, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWellKnownBody+1))
	if err != nil {
		return "", 0, fmt.Errorf(".well-known of %s: read: %w", host, err)
	}
	if len(body) > maxWellKnownBody {
		return "", 0, fmt.Errorf(".well-known of %s: body over %d bytes", host, maxWellKnownBody)
	}
	delegated, err := parseWellKnown(body)
	if err != nil {
		return "", 0, fmt.Errorf(".well-known of %s: %w", host, err)
	}
	return delegated, cacheLifetime(resp.Header, t.now()), nil
}

// parseWellKnown reads m.server from a .well-known body, which must be a
// JSON object whatever its Content-Type, and checks that it is a server
// name.
func parseWellKnown(body []byte) (string, error) {
	var doc struct {
		Server string `json:"m.server"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("invalid JSON: %w", err)
	}
	if doc.Server == "" {
		return "", errors.New("no m.server")
	}
	if _, err := parseServerName(doc.Server); err != nil {
		return "", fmt.Errorf("m.server: %w", err)
	}
	return doc.Server, nil
}

// cacheLifetime is how long a .well-known answer may be kept by its headers:
// Cache-Control max-age, else Expires (against the response's Date when it
// has one), else 24 hours; no-store or no-cache mean not at all; never more
// than 48 hours.
func cacheLifetime(h http.Header, now time.Time) time.Duration {
	if maxAge, ok, noCache := cacheControl(h); noCache {
		return 0
	} else if ok {
		return clampLifetime(maxAge)
	}
	if expires := h.Get("Expires"); expires != "" {
		at, err := http.ParseTime(expires)
		if err != nil {
			return 0 // an invalid Expires means already expired (RFC 9111)
		}
		if date, err := http.ParseTime(h.Get("Date")); err == nil {
			now = date
		}
		return clampLifetime(at.Sub(now))
	}
	return defaultWellKnownLifetime
}

// cacheControl reads the Cache-Control directives that matter here: max-age,
// and no-store or no-cache.
func cacheControl(h http.Header) (maxAge time.Duration, ok, noCache bool) {
	for _, line := range h.Values("Cache-Control") {
		for _, directive := range strings.Split(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				noCache = true
			case "max-age":
				seconds, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
				if err == nil && seconds >= 0 && !ok {
					maxAge, ok = time.Duration(min(seconds, int64(maxWellKnownLifetime/time.Second)))*time.Second, true
				}
			}
		}
	}
	return maxAge, ok, noCache
}

// clampLifetime keeps d within zero and the 48-hour cap.
func clampLifetime(d time.Duration) time.Duration {
	return max(0, min(d, maxWellKnownLifetime))
}

// checkRedirect lets a .well-known fetch follow up to maxRedirects
// redirects, to https URLs only and never back to a URL already visited.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("more than %d redirects", maxRedirects)
	}
	if req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to non-https URL %s", req.URL.Redacted())
	}
	for _, v := range via {
		if v.URL.String() == req.URL.String() {
			return fmt.Errorf("redirect loop at %s", req.URL.Redacted())
		}
	}
	return nil
}
