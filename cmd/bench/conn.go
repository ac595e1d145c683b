package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTransport is an http.RoundTripper that keeps one HTTP/1.1 connection
// to one server and sends its requests over it one at a time. Each sending
// user of the load phases has its own, so that a request costs the load
// generator a write and a read on its own goroutine: net/http's pooled
// Transport hands every request to two goroutines of its own per
// connection, and on a 2-core machine that shared with the server being
// measured, those hand-offs took a fifth of the load generator's CPU time.
// Concurrent callers wait for each other.
type connTransport struct {
	addr string // host:port

	mu   sync.Mutex
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

// RoundTrip sends req and reads the whole answer, whose body it returns in
// memory.
func (t *connTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	resp, reused, err := t.roundTrip(req)
	if err != nil && reused && errors.Is(err, errStale) && (req.Body == nil || req.GetBody != nil) {
		// The server closed the idle connection before this request
		// reached it: send it again on a new one.
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		resp, _, err = t.roundTrip(req)
	}
	return resp, err
}

// errStale marks a connection that failed before any of the answer
// arrived, as an idle connection the server has closed does.
var errStale = errors.New("connection closed before the answer began")

func (t *connTransport) roundTrip(req *http.Request) (resp *http.Response, reused bool, err error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	reused = t.conn != nil
	if t.conn == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", t.addr)
		if err != nil {
			return nil, false, err
		}
		t.conn, t.br, t.bw = c, bufio.NewReaderSize(c, 64<<10), bufio.NewWriterSize(c, 8<<10)
	}
	conn := t.conn
	// A cancelled request interrupts the connection's reads and writes;
	// the connection is then dropped.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() || err != nil {
			t.drop()
		}
		if err != nil && ctx.Err() != nil {
			err = ctx.Err()
		}
	}()
	if err := req.Write(t.bw); err != nil {
		return nil, reused, fmt.Errorf("%w: %w", errStale, err)
	}
	if err := t.bw.Flush(); err != nil {
		return nil, reused, fmt.Errorf("%w: %w", errStale, err)
	}
	if _, err := t.br.Peek(1); err != nil {
		return nil, reused, fmt.Errorf("%w: %w", errStale, err)
	}
	resp, err = http.ReadResponse(t.br, req)
	if err != nil {
		return nil, reused, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, reused, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if resp.Close {
		t.drop()
	}
	return resp, reused, nil
}

func (t *connTransport) drop() {
	if t.conn != nil {
		t.conn.Close()
		t.conn, t.br, t.bw = nil, nil, nil
	}
}
