package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// newTestConn starts srv and returns an httpConn to it; it counts the
// connections srv accepts.
func newTestConn(t *testing.T, srv *httptest.Server, conns *atomic.Int32) *httpConn {
	t.Helper()
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	hc, err := newHTTPConn(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// roundTrip sends a request on hc and returns the answer's status and body.
func roundTrip(ctx context.Context, hc *httpConn, method, target, body string) (int, string, error) {
	req := request{method: method, target: appendString(target), token: "tok"}
	if body != "" {
		req.body = appendString(body)
	}
	var status int
	var got string
	err := hc.roundTrip(ctx, &req, func(st int, b []byte) error {
		status, got = st, string(b)
		return nil
	})
	return status, got, err
}

func get(t *testing.T, hc *httpConn, target string) string {
	t.Helper()
	status, body, err := roundTrip(context.Background(), hc, "GET", target, "")
	if err != nil {
		t.Fatal(err)
	}
	if status != 200 {
		t.Fatalf("GET %s: status %d", target, status)
	}
	return body
}

func TestHTTPConnKeepsOneConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/missing" {
			http.Error(w, `{"errcode":"M_NOT_FOUND"}`, http.StatusNotFound)
			return
		}
		io.WriteString(w, r.Method+" "+string(body)+strings.Repeat("x", 5000)) // chunked
	}))
	hc := newTestConn(t, srv, &conns)
	for i := range 5 {
		if got := get(t, hc, "/a"); !strings.HasPrefix(got, "GET ") || len(got) != 5004 {
			t.Fatalf("request %d: answer %.20q (%d bytes)", i, got, len(got))
		}
	}
	status, got, err := roundTrip(context.Background(), hc, "POST", "/b", "hello")
	if err != nil || status != 200 || !strings.HasPrefix(got, "POST hello") {
		t.Fatalf("POST: %d %.20q, %v", status, got, err)
	}
	status, got, err = roundTrip(context.Background(), hc, "GET", "/missing", "")
	if err != nil || status != 404 || !strings.Contains(got, "M_NOT_FOUND") {
		t.Fatalf("GET /missing: %d %q, %v", status, got, err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("7 requests used %d connections, want 1", n)
	}
}

func TestHTTPConnRedialsClosedConnections(t *testing.T) {
	var conns, served atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			w.Header().Set("Connection", "close") // the server ends this connection
		}
		io.WriteString(w, "ok")
	}))
	hc := newTestConn(t, srv, &conns)
	for i := range 3 {
		if got := get(t, hc, "/"); got != "ok" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	// An idle connection the server dropped is replaced, and the request
	// goes through.
	srv.CloseClientConnections()
	if got := get(t, hc, "/"); got != "ok" {
		t.Fatalf("after the server dropped the connection: %q", got)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("used %d connections, want 3 (one closed by the server, one dropped)", n)
	}
}

func TestHTTPConnCancel(t *testing.T) {
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
	hc := newTestConn(t, srv, &conns)
	defer close(release)

	// A context used for several requests, as the senders' is, and
	// cancelled during one.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 3 {
		if _, got, err := roundTrip(ctx, hc, "GET", "/fast", ""); err != nil || got != "ok" {
			t.Fatalf("before the cancellation: %q, %v", got, err)
		}
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, _, err := roundTrip(ctx, hc, "GET", "/slow", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	if _, _, err := roundTrip(ctx, hc, "GET", "/fast", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("request with a cancelled context: %v", err)
	}

	// A deadline, then a request with another context.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, _, err := roundTrip(ctx2, hc, "GET", "/slow", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request past its deadline: %v", err)
	}
	if got := get(t, hc, "/fast"); got != "ok" {
		t.Fatalf("request after a cancelled one: %q", got)
	}

	// A context cancelled while the connection is idle does not spoil the
	// next request, made with another context.
	ctx3, cancel3 := context.WithCancel(context.Background())
	if _, got, err := roundTrip(ctx3, hc, "GET", "/fast", ""); err != nil || got != "ok" {
		t.Fatalf("with ctx3: %q, %v", got, err)
	}
	cancel3()
	time.Sleep(10 * time.Millisecond) // let its callback run
	if got := get(t, hc, "/fast"); got != "ok" {
		t.Fatalf("after an idle cancellation: %q", got)
	}
}

// pipeConn returns an httpConn whose connections are net.Pipes served by
// serve, and counts the client side's writes.
func pipeConn(serve func(c net.Conn), writes *atomic.Int32) *httpConn {
	return &httpConn{host: "bench.test:80", dial: func(context.Context) (net.Conn, error) {
		c, s := net.Pipe()
		go serve(s)
		return &countingConn{Conn: c, writes: writes}, nil
	}}
}

type countingConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

func TestSendRequest(t *testing.T) {
	type seen struct {
		req  *http.Request
		body []byte
	}
	reqs := make(chan seen, 10)
	var writes atomic.Int32
	hc := pipeConn(func(s net.Conn) {
		defer s.Close()
		br := bufio.NewReader(s)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(req.Body)
			reqs <- seen{req, body}
			if req.Header.Get("Authorization") == "Bearer bad" {
				io.WriteString(s, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 65\r\n\r\n"+
					`{"errcode":"M_UNKNOWN_TOKEN","error":"unrecognised access token"}`)
				continue
			}
			// Chunked, as Dendrite may answer.
			io.WriteString(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+
				"10\r\n{\"event_id\":\"$ab\r\n2\r\nc\"\r\n1\r\n}\r\n0\r\n\r\n")
		}
	}, &writes)
	c := &client{conn: hc, token: "syt_token"}
	for _, id := range []string{"load8true-3-17", `odd "id" <&> é`} {
		writes.Store(0)
		if err := c.send(context.Background(), "!room/1:bench.test", id); err != nil {
			t.Fatal(err)
		}
		if n := writes.Load(); n != 1 {
			t.Errorf("the request took %d writes, want 1", n)
		}
		got := <-reqs
		r := got.req
		wantBody, _ := json.Marshal(map[string]any{"msgtype": "m.text", "body": "benchmark message " + id, "bench_id": id})
		if r.Method != "PUT" || r.Host != "bench.test:80" || r.Header.Get("Authorization") != "Bearer syt_token" ||
			r.Header.Get("Content-Type") != "application/json" || r.ContentLength != int64(len(wantBody)) ||
			!bytes.Equal(got.body, wantBody) {
			t.Errorf("request %s %s Host %s headers %v body %s; want body %s", r.Method, r.RequestURI, r.Host, r.Header, got.body, wantBody)
		}
		room, txn, ok := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/_matrix/client/v3/rooms/"), "/send/m.room.message/")
		if !ok || room != url.PathEscape("!room/1:bench.test") || !strings.HasPrefix(txn, "b") {
			t.Errorf("request target %s", r.RequestURI)
		}
	}
	bad := &client{conn: hc, token: "bad"}
	err := bad.send(context.Background(), "!room:bench.test", "x")
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(ae.Body, "M_UNKNOWN_TOKEN") {
		t.Errorf("send with a bad token: %v", err)
	}
}

// TestSendAllocations checks that a message costs the load generator no
// allocation of its own.
func TestSendAllocations(t *testing.T) {
	var writes atomic.Int32
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 59\r\n\r\n" +
		`{"event_id":"$RQJSeo8Ff-SFayhmWZ-ED89dO31zffnaDPhFx32aCJA"}`)
	hc := pipeConn(func(s net.Conn) {
		defer s.Close()
		buf := make([]byte, 4096)
		for {
			// The request arrives in one write, which net.Pipe hands
			// over in one read.
			if _, err := s.Read(buf); err != nil {
				return
			}
			if _, err := s.Write(answer); err != nil {
				return
			}
		}
	}, &writes)
	c := &client{conn: hc, token: "syt_YmVuY2gxYTJiM2Nfc2VuZGVyMDM_tokentokentoken"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	send := func() {
		if err := c.send(ctx, "!d4x96W3K93igViXrCv8N6Gxw:bench.test", "load8true-3-17"); err != nil {
			t.Fatal(err)
		}
	}
	send() // dial, and grow the buffers
	if n := testing.AllocsPerRun(100, send); n > 0 {
		t.Errorf("a send allocates %v times", n)
	}
}

func TestAppendEscaped(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	for _, s := range []string{"", "!d4x96W3K93igViXrCv8N6Gxw:bench.test", "#alias:127.0.0.1:8448", "a b+c/d?e&f=g;h,i",
		`{"room":{"timeline":{"limit":1000}}}`, "s20311_0_0_0_0_0_3", "é", string(all)} {
		if got, want := string(appendEscaped(nil, s, false)), url.PathEscape(s); got != want {
			t.Errorf("path escape of %q: %q, want %q", s, got, want)
		}
		if got, want := string(appendEscaped(nil, s, true)), url.QueryEscape(s); got != want {
			t.Errorf("query escape of %q: %q, want %q", s, got, want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "load8true-3-17", `a"b\c`, "<&>", "tab\there", "é", "\xff", "\u2028"} {
		want, _ := json.Marshal("benchmark message " + s)
		if got := appendJSONString([]byte("x"), "benchmark message ", s); string(got) != "x"+string(want) {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}

// nextAnswer follows every answer of TestReadResponse that leaves the
// connection open, to check that the parser read exactly the first.
const nextAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int
		body   string
		close  bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"a\":\"bcde\"}", 200, `{"a":"bcde"}`, false},
		{"empty", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "", false},
		{"header case and spacing", "HTTP/1.1 200 OK\r\ncontent-LENGTH:\t 3 \r\nX-Empty:\r\n\r\nabc", 200, "abc", false},
		{"repeated equal lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 200, "abc", false},
		{"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok", false},
		{"error status", "HTTP/1.1 403 Forbidden\r\nContent-Length: 38\r\n\r\n{\"errcode\":\"M_FORBIDDEN\",\"error\":\"no\"}",
			403, `{"errcode":"M_FORBIDDEN","error":"no"}`, false},
		{"429", "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}", 429, "{}", false},
		{"204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", 204, "", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n", 200, "hello, world", false},
		{"chunked with extensions and trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n" +
			"A;name=value\r\n0123456789\r\nb ; quoted=\"a;b\"\r\nabcdefghijk\r\n0;last\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n",
			200, "0123456789abcdefghijk", false},
		{"chunked upper-case hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1F\r\n" + strings.Repeat("z", 31) + "\r\n0\r\n\r\n",
			200, strings.Repeat("z", 31), false},
		{"chunked and content-length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			200, "ok", true},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true},
		{"connection close in a list", "HTTP/1.1 200 OK\r\nConnection: keep-alive, CLOSE\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false},
		{"delimited by the end", "HTTP/1.1 200 OK\r\n\r\nuntil the end", 200, "until the end", true},
		{"interim answers", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false},
		{"obsolete line folding", "HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false},
	}
	for _, tt := range tests {
		in := tt.in
		if !tt.close {
			in += nextAnswer
		}
		for _, split := range []bool{false, true} {
			var r io.Reader = strings.NewReader(in)
			if split {
				r = iotest.OneByteReader(r)
			}
			br := bufio.NewReaderSize(r, 64)
			resp, err := readResponse(br, nil)
			if err != nil {
				t.Errorf("%s (split %v): %v", tt.name, split, err)
				continue
			}
			if resp.status != tt.status || string(resp.body) != tt.body || resp.close != tt.close {
				t.Errorf("%s (split %v): %d %q close %v, want %d %q close %v", tt.name, split,
					resp.status, resp.body, resp.close, tt.status, tt.body, tt.close)
			}
			if tt.close {
				continue
			}
			next, err := readResponse(br, resp.body)
			if err != nil || next.status != 200 || string(next.body) != "next" {
				t.Errorf("%s (split %v): the next answer: %d %q, %v", tt.name, split, next.status, next.body, err)
			}
		}
	}
}

func TestReadResponseErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"nothing", ""},
		{"garbage", "garbage\r\n\r\n"},
		{"HTTP/2", "HTTP/2 200 OK\r\n\r\n"},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n"},
		{"status 099", "HTTP/1.1 099 Odd\r\n\r\n"},
		{"status then junk", "HTTP/1.1 200OK\r\n\r\n"},
		{"truncated status line", "HTTP/1.1 200 OK"},
		{"truncated headers", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"},
		{"header without a colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok"},
		{"space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"},
		{"empty header name", "HTTP/1.1 200 OK\r\n: 2\r\n\r\nok"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{"empty length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk"},
		{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"},
		{"gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
		{"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"},
		{"empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\nok\r\n0\r\n\r\n"},
		{"junk after the chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nok\r\n0\r\n\r\n"},
		{"huge chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nok\r\n0\r\n\r\n"},
		{"chunk over the limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\nok\r\n0\r\n\r\n"},
		{"chunk longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokk\r\n0\r\n\r\n"},
		{"truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nok"},
		{"no last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"},
		{"truncated trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n"},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"},
		{"endless interim answers", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxInterim+1) + "HTTP/1.1 200 OK\r\n\r\n"},
		{"line too long", "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 100) + "\r\n\r\n"},
		{"too many headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: 1\r\n", maxHeaderLines+1) + "\r\n"},
	}
	for _, tt := range tests {
		for _, split := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tt.in)
			if split {
				r = iotest.OneByteReader(r)
			}
			if resp, err := readResponse(bufio.NewReaderSize(r, 64), nil); err == nil {
				t.Errorf("%s (split %v): no error; got %d %q", tt.name, split, resp.status, resp.body)
			}
		}
	}
}

// TestReadResponsePipe reads answers that arrive in pieces on a live
// connection, and checks that a malformed answer is an error at once,
// while the server keeps the connection open.
func TestReadResponsePipe(t *testing.T) {
	tests := []struct {
		name   string
		pieces []string
		ok     bool
		body   string
	}{
		{"content-length in pieces", []string{"HTTP/1.1 200 O", "K\r\nContent-Len", "gth: 11\r", "\n\r\nhello", " world"}, true, "hello world"},
		{"chunked in pieces", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5", "\r\nhel", "lo\r\n6\r", "\n world\r\n0", "\r\n", "\r\n"}, true, "hello world"},
		{"malformed status line", []string{"HTTP/1.1 OK 200\r\n"}, false, ""},
		{"malformed header", []string{"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n"}, false, ""},
		{"malformed chunk size", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := net.Pipe()
			defer c.Close()
			defer s.Close()
			go func() {
				for _, p := range tt.pieces {
					time.Sleep(time.Millisecond)
					if _, err := io.WriteString(s, p); err != nil {
						return
					}
				}
				// Keep the connection open: the parser must not need its
				// end.
			}()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			resp, err := readResponse(bufio.NewReader(c), nil)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the parser waited for more: %v", err)
			}
			if ok := err == nil; ok != tt.ok {
				t.Fatalf("error %v, want ok %v", err, tt.ok)
			}
			if tt.ok && (resp.status != 200 || string(resp.body) != tt.body || resp.close) {
				t.Errorf("got %d %q close %v", resp.status, resp.body, resp.close)
			}
		})
	}
}
