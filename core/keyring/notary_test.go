package keyring_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hearth/core/serverkey"
	"hearth/core/signing"
	"hearth/persist/memory"
)

// query posts a notary query to h and returns the status and responses.
func query(t *testing.T, h http.Handler, method, target, body string) (int, []json.RawMessage) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var resp struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer %s: %v", w.Body, err)
		}
		if resp.ServerKeys == nil {
			t.Fatalf("answer %s has no server_keys list", w.Body)
		}
	}
	return w.Code, resp.ServerKeys
}

func TestNotaryAnswers(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("remote.test", 7)
	e.remote("dead.test", 5).fail = true
	notary := e.ring("notary.test", 2)
	h := notary.QueryHandler()
	notaryPub := key(t, "ed25519:own", 2).Public()

	code, got := query(t, h, "POST", "/_matrix/key/v2/query",
		`{"server_keys":{"remote.test":{"ed25519:r1":{"minimum_valid_until_ts":0}},"dead.test":{},"notary.test":{}}}`)
	if code != 200 || len(got) != 2 {
		t.Fatalf("status %d, %d responses, want 200 and 2 (the dead server left out)", code, len(got))
	}
	byServer := map[string]json.RawMessage{}
	for _, raw := range got {
		keys, err := serverkey.Verify(raw)
		if err != nil {
			t.Fatalf("response not self-signed: %v", err)
		}
		if err := signing.VerifyJSON(raw, "notary.test", "ed25519:own", notaryPub); err != nil {
			t.Fatalf("response for %s not signed by the notary: %v", keys.ServerName, err)
		}
		byServer[keys.ServerName] = raw
	}
	if byServer["remote.test"] == nil || byServer["notary.test"] == nil {
		t.Fatalf("answered for %v", byServer)
	}
	keys, _ := serverkey.Parse(byServer["remote.test"])
	if !keys.VerifyKeys["ed25519:r1"].Equal(ks.key.Public()) {
		t.Fatal("notary served the wrong key")
	}

	// The cached response serves the next query without a fetch, also
	// when the server has gone away since.
	ks.mu.Lock()
	ks.fail = true
	ks.mu.Unlock()
	code, got = query(t, h, "GET", "/_matrix/key/v2/query/remote.test", "")
	if code != 200 || len(got) != 1 {
		t.Fatalf("single query: %d, %d responses", code, len(got))
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	// Asking for keys valid further ahead than the cache makes the
	// notary try again; with the server down, the cached copy is served.
	e.clk.Add(2 * 60_000_000_000)
	code, got = query(t, h, "GET", fmt.Sprintf("/_matrix/key/v2/query/remote.test?minimum_valid_until_ts=%d", e.clk.Now().UnixMilli()+10*3600_000), "")
	if code != 200 || len(got) != 1 || ks.fetches.Load() != 2 {
		t.Fatalf("refresh query: %d, %d responses, %d fetches", code, len(got), ks.fetches.Load())
	}

	// Errors.
	if code, _ := query(t, h, "POST", "/_matrix/key/v2/query", `not json`); code != 400 {
		t.Errorf("bad JSON: %d", code)
	}
	if code, _ := query(t, h, "POST", "/_matrix/key/v2/query", `{}`); code != 400 {
		t.Errorf("missing server_keys: %d", code)
	}
	var many bytes.Buffer
	many.WriteString(`{"server_keys":{`)
	for i := range 101 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `"s%d.test":{}`, i)
	}
	many.WriteString(`}}`)
	if code, _ := query(t, h, "POST", "/_matrix/key/v2/query", many.String()); code != 400 {
		t.Errorf("101 servers: %d", code)
	}
	if code, got := query(t, h, "POST", "/_matrix/key/v2/query", `{"server_keys":{}}`); code != 200 || len(got) != 0 {
		t.Errorf("empty query: %d %d", code, len(got))
	}
	if code, _ := query(t, h, "GET", "/_matrix/key/v2/query/remote.test?minimum_valid_until_ts=x", ""); code != 400 {
		t.Errorf("bad minimum_valid_until_ts: %d", code)
	}
}

func TestFetchThroughNotary(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("remote.test", 7)
	notary := e.ring("notary.test", 2)
	mux := http.NewServeMux()
	mux.Handle("/_matrix/key/v2/query", notary.QueryHandler())
	mux.HandleFunc("/_matrix/key/v2/server", func(w http.ResponseWriter, r *http.Request) {
		raw, err := notary.OwnKeys()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(raw)
	})
	e.rt.Serve(t, "notary.test", mux)

	e.store = memory.New() // the client has a store of its own
	r := e.ring("local.test", 1, "notary.test")
	pub, err := r.VerifyKey("remote.test", "ed25519:r1", 0)
	if err != nil || !pub.Equal(ks.key.Public()) {
		t.Fatalf("key through notary: %v", err)
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("remote fetched %d times, want once (by the notary)", n)
	}
}

func TestNotaryWithoutSignatureFallsBack(t *testing.T) {
	e := newEnv(t)
	ks := e.remote("remote.test", 7)
	// A "notary" that relays the server's response without signing it.
	liar := key(t, "ed25519:own", 3)
	mux := http.NewServeMux()
	mux.HandleFunc("/_matrix/key/v2/query", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := serverkey.Response("remote.test", key(t, "ed25519:r1", 99), e.clk.Now().UnixMilli()+3600_000)
		fmt.Fprintf(w, `{"server_keys":[%s]}`, raw)
	})
	mux.HandleFunc("/_matrix/key/v2/server", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := serverkey.Response("liar.test", liar, e.clk.Now().UnixMilli()+3600_000)
		w.Write(raw)
	})
	e.rt.Serve(t, "liar.test", mux)
	r := e.ring("local.test", 1, "liar.test")
	pub, err := r.VerifyKey("remote.test", "ed25519:r1", 0)
	if err != nil || !pub.Equal(ks.key.Public()) {
		t.Fatalf("want the server's own key after the notary's unsigned answer: %v", err)
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("direct fetches %d, want 1", n)
	}
}
