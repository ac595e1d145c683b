package keyring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hearth/core/selfname"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/core/keyring"
	"hearth/core/serverkey"
	"hearth/core/signing"
	"hearth/persist"
	"hearth/persist/memory"
	"hearth/transport"
	"hearth/transport/transporttest"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func key(t testing.TB, id string, seed byte) signing.Key {
	t.Helper()
	k, err := signing.KeyFromSeed(id, bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyServer serves a remote server's GET /_matrix/key/v2/server.
type keyServer struct {
	name    string
	clk     *clock
	mu      sync.Mutex
	key     signing.Key
	signer  signing.Key // signs the response; normally key
	validMS int64       // valid_until_ts relative to now
	old     []serverkey.OldKey
	fail    bool
	gate    chan struct{} // if set, requests wait for it to close
	fetches atomic.Int32
}

func (ks *keyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/_matrix/key/v2/server" {
		http.NotFound(w, r)
		return
	}
	ks.fetches.Add(1)
	ks.mu.Lock()
	gate, fail := ks.gate, ks.fail
	ks.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	body, err := serverkey.Response(ks.name, ks.key, ks.clk.Now().UnixMilli()+ks.validMS, ks.old...)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	if !ks.signer.Public().Equal(ks.key.Public()) {
		// Re-sign with the wrong key under the right ID.
		var m map[string]json.RawMessage
		json.Unmarshal(body, &m)
		delete(m, "signatures")
		plain, _ := json.Marshal(m)
		body, _ = signing.SignJSON(plain, ks.name, signing.Key{ID: ks.key.ID, Private: ks.signer.Private})
	}
	w.Write(body)
}

type env struct {
	t     *testing.T
	clk   *clock
	rt    *transporttest.Routes
	store persist.Store
}

func newEnv(t *testing.T) *env {
	return &env{t: t, clk: &clock{now: time.UnixMilli(1_700_000_000_000)}, rt: &transporttest.Routes{}, store: memory.New()}
}

func (e *env) remote(name string, seed byte) *keyServer {
	k := key(e.t, "ed25519:r1", seed)
	ks := &keyServer{name: name, clk: e.clk, key: k, signer: k, validMS: time.Hour.Milliseconds()}
	e.rt.Serve(e.t, name, ks)
	return ks
}

func (e *env) ring(name string, seed byte, notaries ...string) *keyring.Ring {
	e.t.Helper()
	k := key(e.t, "ed25519:own", seed)
	c, err := fedclient.New(fedclient.Config{ServerName: name, Key: k, Transports: e.rt, Now: e.clk.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := keyring.New(keyring.Config{
		ServerName: name, Key: k, Store: e.store, Fetcher: c, Notaries: notaries, Now: e.clk.Now,
		OldKeys: []serverkey.OldKey{{ID: "ed25519:older", Public: key(e.t, "ed25519:older", seed+100).Public(), ExpiredTS: 1_600_000_000_000}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func TestFetchVerifyCachePersist(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("remote.test", 7)
	r := e.ring("local.test", 1)
	pub, err := r.VerifyKey("remote.test", "ed25519:r1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(ks.key.Public()) {
		t.Fatal("wrong key")
	}
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", e.clk.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RequestKey(context.Background(), "remote.test", "ed25519:r1"); err != nil {
		t.Fatal(err)
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (cached)", n)
	}
	// A new ring over the same store finds the key without fetching.
	r2 := e.ring("local.test", 1)
	if pub, err := r2.VerifyKey("remote.test", "ed25519:r1", 0); err != nil || !pub.Equal(ks.key.Public()) {
		t.Fatalf("persisted key: %v", err)
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after restart, want 1 (persisted)", n)
	}
}

func TestOwnKeys(t *testing.T) {
	e := newEnv(t)
	r := e.ring("local.test", 1)
	pub, err := r.VerifyKey("local.test", "ed25519:own", 1_800_000_000_000)
	if err != nil || !pub.Equal(key(t, "ed25519:own", 1).Public()) {
		t.Fatalf("own key: %v", err)
	}
	if _, err := r.VerifyKey("local.test", "ed25519:older", 1_500_000_000_000); err != nil {
		t.Fatalf("own old key for an old event: %v", err)
	}
	if _, err := r.VerifyKey("local.test", "ed25519:older", 1_650_000_000_000); !errors.Is(err, keyring.ErrExpiredKey) {
		t.Fatalf("own old key after expiry: %v", err)
	}
	if _, err := r.RequestKey(context.Background(), "local.test", "ed25519:older"); err == nil {
		t.Fatal("old key accepted for a request")
	}
	if _, err := r.VerifyKey("local.test", "ed25519:nope", 0); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Fatalf("unknown own key: %v", err)
	}
}

func TestBadSelfSignatureAndNegativeCache(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("remote.test", 7)
	ks.signer = key(t, "ed25519:r1", 8)
	r := e.ring("local.test", 1)
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", 0); !errors.Is(err, keyring.ErrUnknownKey) || !strings.Contains(err.Error(), "self-signature") {
		t.Fatalf("badly signed response: %v", err)
	}
	// Within the negative TTL, no new fetch.
	e.clk.Add(30 * time.Second)
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", 0); err == nil {
		t.Fatal("key accepted")
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the negative TTL, want 1", n)
	}
	// Unknown key IDs do not cause fetches either.
	if _, err := r.VerifyKey("remote.test", "ed25519:other", 0); err == nil {
		t.Fatal("unknown key accepted")
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	// After it, the server (now fixed) is asked again.
	ks.mu.Lock()
	ks.signer = ks.key
	ks.mu.Unlock()
	e.clk.Add(time.Minute)
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", 0); err != nil {
		t.Fatalf("after the negative TTL: %v", err)
	}
	if n := ks.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestDeadServer(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("dead.test", 7)
	ks.fail = true
	r := e.ring("local.test", 1)
	for range 5 {
		if _, err := r.VerifyKey("dead.test", "ed25519:r1", 0); !errors.Is(err, keyring.ErrUnknownKey) {
			t.Fatalf("dead server: %v", err)
		}
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches of a dead server, want 1", n)
	}
	if _, err := r.VerifyKey("unroutable.test", "ed25519:r1", 0); !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("unroutable server: %v", err)
	}
}

func TestRefetchAtTS(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("remote.test", 7) // valid for an hour
	r := e.ring("local.test", 1)
	now := e.clk.Now().UnixMilli()
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", now+30*60_000); err != nil {
		t.Fatal(err)
	}
	// An event two hours ahead: the cached validity is too short, the
	// server is asked again, still says an hour, and the key is refused.
	e.clk.Add(2 * time.Minute)
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", now+2*3600_000); !errors.Is(err, keyring.ErrExpiredKey) {
		t.Fatalf("key used beyond its validity: %v", err)
	}
	if n := ks.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (one refetch)", n)
	}
	// The server extends its validity; the next refetch accepts.
	ks.mu.Lock()
	ks.validMS = 3 * 3600_000
	ks.mu.Unlock()
	e.clk.Add(2 * time.Minute)
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", now+2*3600_000); err != nil {
		t.Fatalf("after the server extended validity: %v", err)
	}
	// Events from before still verify (validity only grows).
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", now); err != nil {
		t.Fatal(err)
	}
	// Room versions 1-4 (atTS 0) ignore validity.
	e.clk.Add(48 * time.Hour)
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", 0); err != nil {
		t.Fatal(err)
	}
}

func TestValidityCappedAtSevenDays(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("remote.test", 7)
	ks.validMS = (30 * 24 * time.Hour).Milliseconds()
	r := e.ring("local.test", 1)
	now := e.clk.Now().UnixMilli()
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", now+(6*24*time.Hour).Milliseconds()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.VerifyKey("remote.test", "ed25519:r1", now+(10*24*time.Hour).Milliseconds()); !errors.Is(err, keyring.ErrExpiredKey) {
		t.Fatalf("key accepted beyond seven days: %v", err)
	}
	// That lookup came within the negative TTL of the first fetch, so it
	// did not fetch again.
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	// Requests need the key valid now; after 8 days the ring refetches.
	e.clk.Add(8 * 24 * time.Hour)
	if _, err := r.RequestKey(context.Background(), "remote.test", "ed25519:r1"); err != nil {
		t.Fatal(err)
	}
	if n := ks.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestOldVerifyKeys(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("remote.test", 7)
	expired := e.clk.Now().Add(-time.Hour).UnixMilli()
	oldKey := key(t, "ed25519:r0", 6)
	ks.old = []serverkey.OldKey{{ID: "ed25519:r0", Public: oldKey.Public(), ExpiredTS: expired}}
	r := e.ring("local.test", 1)
	if pub, err := r.VerifyKey("remote.test", "ed25519:r0", expired-1000); err != nil || !pub.Equal(oldKey.Public()) {
		t.Fatalf("old key for an older event: %v", err)
	}
	if _, err := r.VerifyKey("remote.test", "ed25519:r0", 0); err != nil {
		t.Fatalf("old key without validity rules: %v", err)
	}
	if _, err := r.VerifyKey("remote.test", "ed25519:r0", expired+1000); !errors.Is(err, keyring.ErrExpiredKey) {
		t.Fatalf("old key after its expiry: %v", err)
	}
	if _, err := r.RequestKey(context.Background(), "remote.test", "ed25519:r0"); err == nil {
		t.Fatal("old key accepted for a request")
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (retired keys are not refetched)", n)
	}
}

func TestConcurrentLookupsShareOneFetch(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("remote.test", 7)
	ks.gate = make(chan struct{})
	r := e.ring("local.test", 1)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := r.VerifyKey("remote.test", "ed25519:r1", 0)
			errs <- err
		})
	}
	for ks.fetches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others queue up
	ks.mu.Lock()
	close(ks.gate)
	ks.gate = nil
	ks.mu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 concurrent lookups, want 1", n)
	}
}

func TestSelfCertifyingNoFetch(t *testing.T) {
	e := newEnv(t)
	peer := key(t, selfname.KeyID, 9)
	name := selfname.NameWithPort(peer.Public(), 8448)
	r := e.ring("local.test", 1) // no route to name: any fetch would fail
	pub, err := r.VerifyKey(name, selfname.KeyID, e.clk.Now().Add(365*24*time.Hour).UnixMilli())
	if err != nil || !pub.Equal(peer.Public()) {
		t.Fatalf("self-certifying key: %v", err)
	}
	if _, err := r.RequestKey(context.Background(), name, selfname.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.VerifyKey(name, "ed25519:other", 0); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Fatalf("other key ID of a self-certifying name: %v", err)
	}
	if _, err := r.VerifyKey(strings.ToUpper(name), selfname.KeyID, 0); err == nil {
		t.Fatal("non-canonical self-certifying name accepted without a fetch")
	}
}

// The ring is the event layer's key lookup.
var _ event.KeyLookup = (*keyring.Ring)(nil)

func TestMemoryBoundedByMaxServers(t *testing.T) {
	e := newEnv(t)
	servers := []*keyServer{e.remote("a.test", 11), e.remote("b.test", 12), e.remote("c.test", 13)}
	k := key(t, "ed25519:own", 1)
	c, err := fedclient.New(fedclient.Config{ServerName: "local.test", Key: k, Transports: e.rt, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	r, err := keyring.New(keyring.Config{ServerName: "local.test", Key: k, Store: e.store, Fetcher: c, Now: e.clk.Now, MaxServers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, ks := range servers {
		if _, err := r.VerifyKey(ks.name, "ed25519:r1", 0); err != nil {
			t.Fatalf("%s: %v", ks.name, err)
		}
	}
	if n := r.CachedServers(); n > 2 {
		t.Fatalf("ring holds %d servers, want at most 2", n)
	}
	// Whichever server was evicted, its key comes back from the store
	// without another fetch.
	for _, ks := range servers {
		if _, err := r.VerifyKey(ks.name, "ed25519:r1", 0); err != nil {
			t.Fatalf("%s after eviction: %v", ks.name, err)
		}
		if n := ks.fetches.Load(); n != 1 {
			t.Fatalf("%s fetched %d times, want 1", ks.name, n)
		}
	}
}
