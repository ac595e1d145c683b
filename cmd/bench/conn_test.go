package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// newConnClient returns a client over a connTransport to srv and counts
// the connections srv accepts.
func newConnClient(t *testing.T, srv *httptest.Server, conns *atomic.Int32) *http.Client {
	t.Helper()
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	hc, err := newHTTPClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

func get(t *testing.T, hc *http.Client, url string) string {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConnTransportKeepsOneConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+string(body)+strings.Repeat("x", 5000)) // chunked
	}))
	hc := newConnClient(t, srv, &conns)
	for i := range 5 {
		if got := get(t, hc, srv.URL+"/a"); !strings.HasPrefix(got, "GET ") || len(got) != 5004 {
			t.Fatalf("request %d: answer %.20q (%d bytes)", i, got, len(got))
		}
	}
	resp, err := hc.Post(srv.URL+"/b", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(string(b), "POST hello") {
		t.Fatalf("POST answer %.20q", b)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("6 requests used %d connections, want 1", n)
	}
}

func TestConnTransportRedialsClosedConnections(t *testing.T) {
	var conns, served atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			w.Header().Set("Connection", "close") // the server ends this connection
		}
		io.WriteString(w, "ok")
	}))
	hc := newConnClient(t, srv, &conns)
	for i := range 3 {
		if got := get(t, hc, srv.URL); got != "ok" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	// An idle connection the server dropped is replaced, and the request
	// goes through.
	srv.CloseClientConnections()
	if got := get(t, hc, srv.URL); got != "ok" {
		t.Fatalf("after the server dropped the connection: %q", got)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("used %d connections, want 3 (one closed by the server, one dropped)", n)
	}
}

func TestConnTransportCancel(t *testing.T) {
	var conns atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	hc := newConnClient(t, srv, &conns)
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/slow", nil)
	if _, err := hc.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled request: %v", err)
	}
	if got := get(t, hc, srv.URL+"/fast"); got != "ok" {
		t.Fatalf("request after a cancelled one: %q", got)
	}
}
