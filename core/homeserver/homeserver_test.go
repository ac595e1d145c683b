package homeserver_test

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hearth/core/homeserver"
	"hearth/core/serverkey"
	"hearth/core/signing"
	"hearth/persist/memory"
)

const secret = "s3cret"

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testConfig(t *testing.T) (homeserver.Config, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)}
	key, err := signing.GenerateKey(rand.NewChaCha8([32]byte{1}), "ed25519:test")
	if err != nil {
		t.Fatal(err)
	}
	return homeserver.Config{
		ServerName:               "hs.example",
		SigningKey:               key,
		Store:                    memory.New(),
		Now:                      c.now,
		Rand:                     rand.NewChaCha8([32]byte{2}),
		RegistrationSharedSecret: secret,
		BcryptCost:               4,
	}, c
}

func newServer(t *testing.T, change func(*homeserver.Config)) (*homeserver.Server, *clock) {
	t.Helper()
	cfg, c := testConfig(t)
	if change != nil {
		change(&cfg)
	}
	s, err := homeserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// response is a recorded answer with its JSON body decoded.
type response struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (r response) errcode() string {
	code, _ := r.json["errcode"].(string)
	return code
}

func do(t *testing.T, h http.Handler, method, path, body string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, body: string(b)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.json); err != nil {
			t.Fatalf("%s %s: bad JSON %q: %v", method, path, b, err)
		}
	}
	return r
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		change func(*homeserver.Config)
	}{
		{"no server name", func(c *homeserver.Config) { c.ServerName = "" }},
		{"no store", func(c *homeserver.Config) { c.Store = nil }},
		{"no clock", func(c *homeserver.Config) { c.Now = nil }},
		{"no rand", func(c *homeserver.Config) { c.Rand = nil }},
		{"no key", func(c *homeserver.Config) { c.SigningKey = signing.Key{} }},
		{"bad registration", func(c *homeserver.Config) { c.Registration = "sometimes" }},
		{"negative rate", func(c *homeserver.Config) { c.RateLimit = -1 }},
		{"bad bcrypt cost", func(c *homeserver.Config) { c.BcryptCost = 99 }},
	}
	for _, tt := range tests {
		cfg, _ := testConfig(t)
		tt.change(&cfg)
		if _, err := homeserver.New(cfg); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
}

func TestParseRegistration(t *testing.T) {
	for _, s := range []string{"open", "token", "disabled"} {
		if r, err := homeserver.ParseRegistration(s); err != nil || string(r) != s {
			t.Errorf("ParseRegistration(%q) = %q, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "Open", "closed"} {
		if _, err := homeserver.ParseRegistration(s); err == nil {
			t.Errorf("ParseRegistration(%q) succeeded", s)
		}
	}
}

func TestClientHandler(t *testing.T) {
	s, _ := newServer(t, nil)
	h := s.ClientHandler()
	tests := []struct {
		method, path string
		status       int
		errcode      string
		contains     string
	}{
		{"GET", "/_matrix/client/versions", 200, "", `"v1.11"`},
		{"HEAD", "/_matrix/client/versions", 200, "", ""},
		{"GET", "/health", 200, "", "OK"},
		{"POST", "/_matrix/client/versions", 405, "M_UNRECOGNIZED", ""},
		{"PUT", "/health", 405, "M_UNRECOGNIZED", ""},
		{"GET", "/_matrix/client/v3/no/such/endpoint", 404, "M_UNRECOGNIZED", ""},
		{"GET", "/_matrix/media/v3/no-such-endpoint", 404, "M_UNRECOGNIZED", ""},
		{"GET", "/_matrix/key/v2/server", 404, "M_UNRECOGNIZED", ""},
		{"GET", "/", 404, "M_UNRECOGNIZED", ""},
		{"OPTIONS", "/_matrix/client/v3/login", 200, "", "{}"},
		{"OPTIONS", "/anything", 200, "", "{}"},
		{"GET", "/_synapse/admin/v1/register", 200, "", `"nonce"`},
		{"PUT", "/_synapse/admin/v1/register", 405, "M_UNRECOGNIZED", ""},
	}
	for _, tt := range tests {
		r := do(t, h, tt.method, tt.path, "")
		if r.status != tt.status || r.errcode() != tt.errcode || !strings.Contains(r.body, tt.contains) {
			t.Errorf("%s %s = %d %q, want %d %s containing %q", tt.method, tt.path, r.status, r.body, tt.status, tt.errcode, tt.contains)
		}
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q", tt.method, tt.path, got)
		}
		if got := r.header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") {
			t.Errorf("%s %s: Access-Control-Allow-Headers %q", tt.method, tt.path, got)
		}
		if tt.status == 405 && r.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tt.method, tt.path)
		}
	}
}

func TestVersions(t *testing.T) {
	s, _ := newServer(t, nil)
	r := do(t, s.ClientHandler(), "GET", "/_matrix/client/versions", "")
	var body struct {
		Versions         []string        `json:"versions"`
		UnstableFeatures map[string]bool `json:"unstable_features"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Versions) != len(homeserver.ClientVersions()) || body.UnstableFeatures == nil {
		t.Errorf("versions body %s", r.body)
	}
}

func TestFederationHandler(t *testing.T) {
	s, c := newServer(t, nil)
	h := s.FederationHandler()
	tests := []struct {
		method, path string
		status       int
		errcode      string
		contains     string
	}{
		{"GET", "/health", 200, "", "OK"},
		{"GET", "/_matrix/federation/v1/version", 200, "", `"hearth"`},
		{"GET", "/_matrix/key/v2/server", 200, "", `"hs.example"`},
		{"POST", "/_matrix/key/v2/server", 405, "M_UNRECOGNIZED", ""},
		{"GET", "/_matrix/federation/v1/nothing", 404, "M_UNRECOGNIZED", ""},
		{"GET", "/_matrix/client/versions", 404, "M_UNRECOGNIZED", ""},
	}
	for _, tt := range tests {
		r := do(t, h, tt.method, tt.path, "")
		if r.status != tt.status || r.errcode() != tt.errcode || !strings.Contains(r.body, tt.contains) {
			t.Errorf("%s %s = %d %q, want %d %s containing %q", tt.method, tt.path, r.status, r.body, tt.status, tt.errcode, tt.contains)
		}
	}

	r := do(t, h, "GET", "/_matrix/key/v2/server", "")
	keys, err := serverkey.Verify([]byte(r.body))
	if err != nil {
		t.Fatalf("key response does not verify: %v\n%s", err, r.body)
	}
	cfg, _ := testConfig(t)
	pub, until, ok := keys.PublicKey("ed25519:test")
	if !ok || !pub.Equal(cfg.SigningKey.Public()) {
		t.Errorf("key response lacks ed25519:test: %s", r.body)
	}
	if want := c.t.Add(homeserver.DefaultKeyValidity).UnixMilli(); keys.ValidUntilTS != want || until != want {
		t.Errorf("valid_until_ts %d (key %d), want %d", keys.ValidUntilTS, until, want)
	}
}
