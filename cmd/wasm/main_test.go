//go:build js && wasm

package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"hearth/core/serverkey"
)

// result is a settled hearthFetch promise.
type result struct {
	status  int
	headers map[string]string
	body    string
	err     string
}

// call invokes hearthFetch from JavaScript and waits for its promise.
func call(t *testing.T, args ...any) result {
	t.Helper()
	done := make(chan result, 1)
	var onOK, onErr js.Func
	onOK = js.FuncOf(func(this js.Value, a []js.Value) any {
		res := a[0]
		r := result{status: res.Get("status").Int(), body: res.Get("body").String(), headers: map[string]string{}}
		keys := js.Global().Get("Object").Call("keys", res.Get("headers"))
		for i := 0; i < keys.Length(); i++ {
			k := keys.Index(i).String()
			r.headers[k] = res.Get("headers").Get(k).String()
		}
		done <- r
		return nil
	})
	onErr = js.FuncOf(func(this js.Value, a []js.Value) any {
		done <- result{err: a[0].Get("message").String()}
		return nil
	})
	defer onOK.Release()
	defer onErr.Release()
	js.Global().Call("hearthFetch", args...).Call("then", onOK, onErr)
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("hearthFetch promise did not settle")
		return result{}
	}
}

func TestHearthFetch(t *testing.T) {
	global := js.Global()
	global.Set("hearthServerName", "browser.test")
	defer global.Delete("hearthServerName")
	hs, err := newServer(global, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	fn := exportFetch(global, hs)
	defer fn.Release()
	defer global.Delete("hearthFetch")

	r := call(t, "GET", "/_matrix/client/versions", "")
	var versions struct{ Versions []string }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &versions) != nil || len(versions.Versions) == 0 {
		t.Errorf("versions: %+v", r)
	}
	if r.headers["content-type"] != "application/json" || r.headers["access-control-allow-origin"] != "*" {
		t.Errorf("versions headers: %v", r.headers)
	}

	r = call(t, "GET", "/_matrix/key/v2/server", "")
	keys, err := serverkey.Verify([]byte(r.body))
	if r.status != 200 || err != nil || keys.ServerName != "browser.test" {
		t.Errorf("key response: %+v, %v", r, err)
	}

	tests := []struct {
		args     []any
		status   int
		contains string
	}{
		{[]any{"GET", "/health", ""}, 200, "OK"},
		{[]any{"GET", "/_matrix/client/v3/nothing", ""}, 404, "M_UNRECOGNIZED"},
		{[]any{"POST", "/_synapse/admin/v1/register", "{}"}, 400, "not enabled"},
		{[]any{"GET", "/_matrix/federation/v1/version"}, 200, "hearth"},
		{[]any{"GET"}, 404, "M_UNRECOGNIZED"},
	}
	for _, tt := range tests {
		r := call(t, tt.args...)
		if r.status != tt.status || !strings.Contains(r.body, tt.contains) {
			t.Errorf("hearthFetch%v = %+v, want %d containing %q", tt.args, r, tt.status, tt.contains)
		}
	}

	if r := call(t, "GET", "http://[bad", ""); r.err == "" {
		t.Errorf("bad URL resolved: %+v", r)
	}
}
