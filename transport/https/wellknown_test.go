package https

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestCacheLifetime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	date := now.Add(-time.Minute).Format(http.TimeFormat)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"no headers", http.Header{}, 24 * time.Hour},
		{"max-age", http.Header{"Cache-Control": {"max-age=3600"}}, time.Hour},
		{"max-age among others", http.Header{"Cache-Control": {"public, max-age=60, must-revalidate"}}, time.Minute},
		{"quoted max-age", http.Header{"Cache-Control": {`max-age="120"`}}, 2 * time.Minute},
		{"max-age over the cap", http.Header{"Cache-Control": {"max-age=999999999999"}}, 48 * time.Hour},
		{"max-age zero", http.Header{"Cache-Control": {"max-age=0"}}, 0},
		{"invalid max-age", http.Header{"Cache-Control": {"max-age=soon"}}, 24 * time.Hour},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, 0},
		{"no-cache with max-age", http.Header{"Cache-Control": {"max-age=600", "no-cache"}}, 0},
		{"max-age before Expires", http.Header{"Cache-Control": {"max-age=60"}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, time.Minute},
		{"Expires", http.Header{"Expires": {now.Add(2 * time.Hour).Format(http.TimeFormat)}}, 2 * time.Hour},
		{"Expires against Date", http.Header{"Expires": {now.Add(2 * time.Hour).Format(http.TimeFormat)}, "Date": {date}}, 2*time.Hour + time.Minute},
		{"Expires over the cap", http.Header{"Expires": {now.Add(100 * time.Hour).Format(http.TimeFormat)}}, 48 * time.Hour},
		{"Expires passed", http.Header{"Expires": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{"invalid Expires", http.Header{"Expires": {"0"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cacheLifetime(tt.header, now); got != tt.want {
				t.Fatalf("cacheLifetime(%v) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

// countingWellKnown serves one .well-known answer and counts the requests.
type countingWellKnown struct {
	mu     sync.Mutex
	n      int
	answer wellKnownAnswer
}

func (c *countingWellKnown) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	answer := c.answer
	c.mu.Unlock()
	wellKnownHandler(map[string]wellKnownAnswer{"cached.test": answer}).ServeHTTP(w, r)
}

func (c *countingWellKnown) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestWellKnownCache(t *testing.T) {
	type step struct {
		advance time.Duration
		fetches int    // total fetches after resolving
		host    string // resulting Host header
	}
	const delegated, fallback = "matrix.cached.test:9000", "cached.test"
	ok := wellKnownAnswer{body: `{"m.server": "` + delegated + `"}`}
	tests := []struct {
		name   string
		answer wellKnownAnswer
		steps  []step
	}{
		{"default 24 hours", ok, []step{
			{0, 1, delegated}, {23 * time.Hour, 1, delegated}, {time.Hour, 2, delegated},
		}},
		{"max-age", wellKnownAnswer{body: ok.body, header: http.Header{"Cache-Control": {"max-age=600"}}}, []step{
			{0, 1, delegated}, {599 * time.Second, 1, delegated}, {time.Second, 2, delegated},
		}},
		{"capped at 48 hours", wellKnownAnswer{body: ok.body, header: http.Header{"Cache-Control": {"max-age=31536000"}}}, []step{
			{0, 1, delegated}, {48*time.Hour - time.Second, 1, delegated}, {time.Second, 2, delegated},
		}},
		{"no-store", wellKnownAnswer{body: ok.body, header: http.Header{"Cache-Control": {"no-store"}}}, []step{
			{0, 1, delegated}, {0, 2, delegated},
		}},
		{"error for an hour", wellKnownAnswer{status: http.StatusNotFound}, []step{
			{0, 1, fallback}, {59 * time.Minute, 1, fallback}, {time.Minute, 2, fallback},
		}},
		{"invalid answer for an hour", wellKnownAnswer{body: `{"m.server": 1}`, header: http.Header{"Cache-Control": {"max-age=60"}}}, []step{
			{0, 1, fallback}, {30 * time.Minute, 1, fallback}, {30 * time.Minute, 2, fallback},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			cert := ca.issue(t, "cached.test")
			handler := &countingWellKnown{answer: tt.answer}
			wk := startServer(t, &cert, false, handler)
			resolver := newFakeResolver()
			resolver.addHost("cached.test")
			clock := newFakeClock()
			tr := newTestTransport(t, Options{Resolver: resolver, RootCAs: ca.pool, AllowPrivate: true, Now: clock.Now}, wk.port)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				route, err := tr.Resolve(context.Background(), "cached.test")
				if err != nil {
					t.Fatalf("step %d: Resolve: %v", i, err)
				}
				if route.Host != s.host {
					t.Fatalf("step %d: Host %q, want %q", i, route.Host, s.host)
				}
				if got := handler.count(); got != s.fetches {
					t.Fatalf("step %d (after %v): %d fetches, want %d", i, s.advance, got, s.fetches)
				}
			}
		})
	}
}

// TestWellKnownFetchOutlivesCaller checks that a caller giving up does not
// cut a .well-known fetch short, so no failure is cached on its account.
func TestWellKnownFetchOutlivesCaller(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue(t, "slow.test")
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	wk := startServer(t, &cert, false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		once.Do(func() { close(arrived) })
		<-release
		_, _ = w.Write([]byte(`{"m.server": "matrix.slow.test:9000"}`))
	}))
	resolver := newFakeResolver()
	resolver.addHost("slow.test")
	tr := newTestTransport(t, Options{Resolver: resolver, RootCAs: ca.pool, AllowPrivate: true}, wk.port)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := tr.Resolve(ctx, "slow.test")
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve with a cancelled context = %v, want context.Canceled", err)
	}
	close(release)
	route, err := tr.Resolve(context.Background(), "slow.test")
	if err != nil {
		t.Fatal(err)
	}
	if route.Host != "matrix.slow.test:9000" {
		t.Fatalf("after the fetch completed: Host %q, want the delegated name", route.Host)
	}
}

func TestCheckRedirect(t *testing.T) {
	request := func(url string) *http.Request {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	start := request("https://a.test/.well-known/matrix/server")
	var chain []*http.Request
	for i := range maxRedirects + 1 {
		chain = append(chain, request("https://a.test/"+strconv.Itoa(i)))
	}
	tests := []struct {
		name string
		next *http.Request
		via  []*http.Request
		ok   bool
	}{
		{"to another https URL", request("https://b.test/x"), []*http.Request{start}, true},
		{"up to the limit", request("https://b.test/x"), chain[:maxRedirects], true},
		{"past the limit", request("https://b.test/x"), chain, false},
		{"to http", request("http://b.test/x"), []*http.Request{start}, false},
		{"back to a visited URL", request("https://a.test/.well-known/matrix/server"), []*http.Request{start, request("https://b.test/x")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkRedirect(tt.next, tt.via); (err == nil) != tt.ok {
				t.Fatalf("checkRedirect = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestWellKnownCachePrunesExpired(t *testing.T) {
	clock := newFakeClock()
	tr := newTestTransport(t, Options{Resolver: newFakeResolver(), Now: clock.Now}, "")
	done := make(chan struct{})
	close(done)
	for i := range wellKnownPruneSize {
		expires := clock.Now().Add(time.Hour)
		if i%2 == 0 {
			expires = clock.Now()
		}
		tr.cache["host"+strconv.Itoa(i)+".test"] = &wellKnownEntry{done: done, expires: expires}
	}
	// A fetch of a new host (which fails: the resolver knows no host)
	// drops the expired half first.
	if _, err := tr.Resolve(context.Background(), "new.test"); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	n := len(tr.cache)
	tr.mu.Unlock()
	if want := wellKnownPruneSize/2 + 1; n != want {
		t.Fatalf("cache holds %d entries, want %d", n, want)
	}
}
