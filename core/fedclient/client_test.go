package fedclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"sync"
	"testing"
	"time"

	"hearth/core/fedclient"
	"hearth/core/signing"
	"hearth/core/xmatrix"
	"hearth/transport"
	"hearth/transport/transporttest"
)

func testKey(t testing.TB, seed byte) signing.Key {
	t.Helper()
	k, err := signing.KeyFromSeed("ed25519:test", bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// recorded is one request a test server saw.
type recorded struct {
	method, uri, auth string
	body              []byte
}

// server starts a handler on 127.0.0.1 for the server name dest.test that
// records requests and answers with answer, and returns the routes to it.
func server(t *testing.T, answer http.HandlerFunc) (*transporttest.Routes, *[]recorded) {
	t.Helper()
	var mu sync.Mutex
	var seen []recorded
	rt := &transporttest.Routes{}
	rt.Serve(t, "dest.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, recorded{r.Method, r.RequestURI, r.Header.Get("Authorization"), body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		answer(w, r)
	}))
	return rt, &seen
}

func newClient(t *testing.T, rt transport.Chooser) *fedclient.Client {
	t.Helper()
	c, err := fedclient.New(fedclient.Config{
		ServerName: "origin.test",
		Key:        testKey(t, 1),
		Transports: rt,
		Now:        func() time.Time { return time.UnixMilli(1_700_000_000_000) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDoSignsRequest(t *testing.T) {
	rt, seen := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ok":true}`))
	})
	c := newClient(t, rt)
	var out struct{ OK bool }
	path := "/_matrix/federation/v1/send/t%2F1?a=b"
	if err := c.Do(context.Background(), "dest.test", "PUT", path, map[string]int{"x": 1}, &out); err != nil {
		t.Fatal(err)
	}
	if !out.OK {
		t.Fatal("answer not decoded")
	}
	got := (*seen)[0]
	if got.uri != path {
		t.Fatalf("request target %q, want %q", got.uri, path)
	}
	p, err := xmatrix.ParseHeader(got.auth)
	if err != nil {
		t.Fatal(err)
	}
	if p.Origin != "origin.test" || p.Destination != "dest.test" || p.Key != "ed25519:test" {
		t.Fatalf("header params %+v", p)
	}
	req := xmatrix.Request{Method: "PUT", URI: got.uri, Origin: "origin.test", Destination: "dest.test", Content: got.body}
	if err := xmatrix.Verify(req, p, testKey(t, 1).Public()); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	// A different body must not verify.
	req.Content = []byte(`{"x":2}`)
	if err := xmatrix.Verify(req, p, testKey(t, 1).Public()); err == nil {
		t.Fatal("signature verified over another body")
	}
}

func TestDoErrors(t *testing.T) {
	rt, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/forbidden":
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"no"}`))
		case "/limited":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"slow down"}`))
		case "/html":
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(`<html>bad gateway</html>`))
		case "/notjson":
			w.Write([]byte(`not json`))
		}
	})
	c := newClient(t, rt)
	ctx := context.Background()
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/forbidden", 403, "M_FORBIDDEN"},
		{"/limited", 429, "M_LIMIT_EXCEEDED"},
		{"/html", 502, ""},
	}
	for _, tt := range tests {
		err := c.Do(ctx, "dest.test", "GET", tt.path, nil, nil)
		var fe *fedclient.Error
		if !errors.As(err, &fe) {
			t.Fatalf("%s: error %v is not *fedclient.Error", tt.path, err)
		}
		if fe.Status != tt.status || fe.Code != tt.code || fedclient.StatusOf(err) != tt.status || fedclient.CodeOf(err) != tt.code {
			t.Errorf("%s: got %d %q, want %d %q", tt.path, fe.Status, fe.Code, tt.status, tt.code)
		}
		if tt.status == 429 && fe.RetryAfterMS != 3000 {
			t.Errorf("retry after %d ms, want 3000", fe.RetryAfterMS)
		}
	}
	var v map[string]any
	if err := c.Do(ctx, "dest.test", "GET", "/notjson", nil, &v); err == nil || fedclient.StatusOf(err) != 0 {
		t.Errorf("undecodable 200: err %v", err)
	}
	err := c.Do(ctx, "nowhere.test", "GET", "/x", nil, nil)
	if !errors.Is(err, transport.ErrUnreachable) {
		t.Errorf("unroutable destination: %v, want ErrUnreachable", err)
	}
	if err := c.Do(ctx, "dest.test", "GET", "no-slash", nil, nil); err == nil {
		t.Error("path without / accepted")
	}
}

func TestTypedEndpoints(t *testing.T) {
	answers := map[string]string{
		"/_matrix/federation/v1/state_ids/":          `{"auth_chain_ids":["$a"],"pdu_ids":["$b","$c"]}`,
		"/_matrix/federation/v1/make_join/":          `{"room_version":"11","event":{"type":"m.room.member"}}`,
		"/_matrix/federation/v2/send_join/":          `{"origin":"dest.test","auth_chain":[{"a":1}],"state":[{"s":1}],"members_omitted":true,"servers_in_room":["dest.test"]}`,
		"/_matrix/federation/v1/send/":               `{"pdus":{"$e":{},"$f":{"error":"bad"}}}`,
		"/_matrix/federation/v1/event/":              `{"origin":"dest.test","origin_server_ts":1,"pdus":[{"type":"x"}]}`,
		"/_matrix/federation/v1/backfill/":           `{"origin":"dest.test","origin_server_ts":1,"pdus":[{"a":1},{"b":2}]}`,
		"/_matrix/federation/v1/query/directory":     `{"room_id":"!r:dest.test","servers":["dest.test"]}`,
		"/_matrix/federation/v1/version":             `{"server":{"name":"other","version":"1.0"}}`,
		"/_matrix/federation/v2/invite/":             `{"event":{"signed":true}}`,
		"/_matrix/federation/v1/get_missing_events/": `{"events":[{"m":1}]}`,
		"/_matrix/federation/v1/user/keys/claim":     `{"one_time_keys":{"@u:dest.test":{"D":{"signed_curve25519:A":{"key":"k"}}}}}`,
	}
	rt, seen := server(t, func(w http.ResponseWriter, r *http.Request) {
		for prefix, body := range answers {
			if len(r.URL.Path) >= len(prefix) && r.URL.Path[:len(prefix)] == prefix {
				w.Write([]byte(body))
				return
			}
		}
		w.WriteHeader(404)
		w.Write([]byte(`{"errcode":"M_UNRECOGNIZED","error":"?"}`))
	})
	c := newClient(t, rt)
	ctx := context.Background()
	last := func() recorded { return (*seen)[len(*seen)-1] }

	ids, err := c.GetStateIDs(ctx, "dest.test", "!room:dest.test", "$ev/ent+1")
	if err != nil || len(ids.PDUIDs) != 2 || ids.AuthChainIDs[0] != "$a" {
		t.Fatalf("state_ids: %+v %v", ids, err)
	}
	if want := "/_matrix/federation/v1/state_ids/%21room:dest.test?event_id=%24ev%2Fent%2B1"; last().uri != want {
		t.Errorf("state_ids target %q", last().uri)
	}

	tmpl, err := c.MakeJoin(ctx, "dest.test", "!room:dest.test", "@u:origin.test", []string{"10", "11"})
	if err != nil || tmpl.RoomVersion != "11" || len(tmpl.Event) == 0 {
		t.Fatalf("make_join: %+v %v", tmpl, err)
	}
	if u, _ := url.Parse(last().uri); u.EscapedPath() != "/_matrix/federation/v1/make_join/%21room:dest.test/@u:origin.test" || len(u.Query()["ver"]) != 2 {
		t.Errorf("make_join target %q lacks ver params", last().uri)
	}

	sj, err := c.SendJoin(ctx, "dest.test", "!room:dest.test", "$join", json.RawMessage(`{"type":"m.room.member"}`), true)
	if err != nil || !sj.MembersOmitted || len(sj.State) != 1 || len(sj.AuthChain) != 1 || sj.ServersInRoom[0] != "dest.test" {
		t.Fatalf("send_join: %+v %v", sj, err)
	}
	if r := last(); r.method != "PUT" || string(r.body) != `{"type":"m.room.member"}` || r.uri[len(r.uri)-len("omit_members=true"):] != "omit_members=true" {
		t.Errorf("send_join request %s %s %s", r.method, r.uri, r.body)
	}

	res, err := c.SendTransaction(ctx, "dest.test", "txn1", []json.RawMessage{json.RawMessage(`{"p":1}`)}, nil)
	if err != nil || res["$f"].Error != "bad" {
		t.Fatalf("send: %+v %v", res, err)
	}
	var txn struct {
		Origin         string            `json:"origin"`
		OriginServerTS int64             `json:"origin_server_ts"`
		PDUs           []json.RawMessage `json:"pdus"`
	}
	if err := json.Unmarshal(last().body, &txn); err != nil || txn.Origin != "origin.test" || txn.OriginServerTS != 1_700_000_000_000 || len(txn.PDUs) != 1 {
		t.Errorf("transaction body %s (%v)", last().body, err)
	}

	ev, err := c.GetEvent(ctx, "dest.test", "$x")
	if err != nil || string(ev) != `{"type":"x"}` {
		t.Fatalf("event: %s %v", ev, err)
	}
	bf, err := c.Backfill(ctx, "dest.test", "!room:dest.test", []string{"$a", "$b"}, 5)
	if err != nil || len(bf.PDUs) != 2 {
		t.Fatalf("backfill: %+v %v", bf, err)
	}
	if u, _ := url.Parse(last().uri); len(u.Query()["v"]) != 2 || u.Query().Get("limit") != "5" {
		t.Errorf("backfill target %q", last().uri)
	}
	dir, err := c.QueryDirectory(ctx, "dest.test", "#a:dest.test")
	if err != nil || dir.RoomID != "!r:dest.test" {
		t.Fatalf("directory: %+v %v", dir, err)
	}
	if last().uri != "/_matrix/federation/v1/query/directory?room_alias=%23a%3Adest.test" {
		t.Errorf("directory target %q", last().uri)
	}
	ver, err := c.Version(ctx, "dest.test")
	if err != nil || ver.Name != "other" {
		t.Fatalf("version: %+v %v", ver, err)
	}
	inv, err := c.Invite(ctx, "dest.test", "!room:dest.test", "$inv", fedclient.InviteRequest{RoomVersion: "11", Event: json.RawMessage(`{}`)})
	if err != nil || string(inv) != `{"signed":true}` {
		t.Fatalf("invite: %s %v", inv, err)
	}
	evs, err := c.GetMissingEvents(ctx, "dest.test", "!room:dest.test", fedclient.MissingEventsRequest{LatestEvents: []string{"$l"}, Limit: 10})
	if err != nil || len(evs) != 1 || last().method != "POST" {
		t.Fatalf("missing events: %s %v", evs, err)
	}
	otk, err := c.UserKeysClaim(ctx, "dest.test", map[string]map[string]string{"@u:dest.test": {"D": "signed_curve25519"}})
	if err != nil || len(otk["@u:dest.test"]["D"]) != 1 {
		t.Fatalf("claim: %v %v", otk, err)
	}
	if _, err := c.Hierarchy(ctx, "dest.test", "!space:dest.test", false); fedclient.CodeOf(err) != "M_UNRECOGNIZED" {
		t.Fatalf("hierarchy on a server without it: %v", err)
	}
}

func TestMediaDownload(t *testing.T) {
	rt, seen := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_matrix/federation/v1/media/download/missing" {
			w.WriteHeader(404)
			w.Write([]byte(`{"errcode":"M_NOT_FOUND","error":"gone"}`))
			return
		}
		mw := multipart.NewWriter(w)
		w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
		meta, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
		meta.Write([]byte(`{}`))
		h := textproto.MIMEHeader{}
		if r.URL.Path == "/_matrix/federation/v1/media/download/redirect" {
			h.Set("Location", "https://cdn.example/file")
		} else {
			h.Set("Content-Type", "text/plain")
			h.Set("Content-Disposition", `inline; filename="a.txt"`)
		}
		part, _ := mw.CreatePart(h)
		if h.Get("Location") == "" {
			part.Write([]byte("hello media"))
		}
		mw.Close()
	})
	c := newClient(t, rt)
	ctx := context.Background()
	m, err := c.MediaDownload(ctx, "dest.test", "abc", 2000)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(m.Body)
	m.Close()
	if err != nil || string(body) != "hello media" || m.ContentType != "text/plain" || m.ContentDisposition != `inline; filename="a.txt"` || string(m.Metadata) != `{}` {
		t.Fatalf("media: %q %+v %v", body, m, err)
	}
	if got := (*seen)[0].uri; got != "/_matrix/federation/v1/media/download/abc?timeout_ms=2000" {
		t.Errorf("media target %q", got)
	}
	m, err = c.MediaDownload(ctx, "dest.test", "redirect", 0)
	if err != nil || m.Location != "https://cdn.example/file" || m.Body != nil {
		t.Fatalf("redirect: %+v %v", m, err)
	}
	m.Close()
	if _, err := c.MediaDownload(ctx, "dest.test", "missing", 0); fedclient.StatusOf(err) != 404 || fedclient.CodeOf(err) != "M_NOT_FOUND" {
		t.Fatalf("missing media: %v", err)
	}
}
