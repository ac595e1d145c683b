package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// httpConn is a minimal HTTP/1.1 client that keeps one connection to one
// server and sends its requests over it one at a time. Each user of the
// benchmark has its own, so that a request costs the load generator one
// write and the reads of its answer, on the caller's goroutine. The load
// generator shares a 2-core machine with the server it measures, so what
// it spends per message is taken from the server: net/http's pooled
// Transport hands every request to two goroutines of its own per
// connection, and even on the caller's goroutine net/http's request
// writing, header parsing and allocations cost about as much CPU time as
// the system calls of the exchange.
//
// It writes each request with a single write from a buffer it reuses, and
// reads the answer with a parser of its own (see readResponse) into a body
// buffer it also reuses. It speaks plain HTTP/1.1 with keep-alive, answers
// with a Content-Length, chunked or delimited by the end of the connection,
// and reconnects when the server closes the connection. Concurrent callers
// wait for each other.
type httpConn struct {
	host string // the Host header: host:port
	dial func(ctx context.Context) (net.Conn, error)

	mu      sync.Mutex // held for a whole exchange
	br      *bufio.Reader
	wbuf    []byte // the request being sent
	scratch []byte // its body, while it is built
	body    []byte // the last answer's body
	watched context.Context
	unwatch func() bool

	// nmu guards nc and gen, which a cancelled context's callback reads
	// from a goroutine of its own.
	nmu sync.Mutex
	nc  net.Conn // nil when there is no connection
	gen uint64   // counts the contexts watched
}

// newHTTPConn returns a connection (dialled on first use) to base,
// http://host:port.
func newHTTPConn(base string) (*httpConn, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("server URL %q: want http://host:port", base)
	}
	addr := u.Host
	return &httpConn{host: addr, dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}}, nil
}

// request is one request for httpConn.roundTrip. Its target and body are
// functions that append them to a buffer, so that the callers on the hot
// path can build them without allocating.
type request struct {
	method string
	// target appends the request target: the path and query, escaped.
	target func(b []byte) []byte
	// token is the access token sent as Authorization: Bearer, if any.
	token string
	// body appends the JSON body; nil means no body.
	body func(b []byte) []byte
}

// userAgent names the load generator to the servers, which may record it
// per device as they do for any client.
const userAgent = "hearth-bench"

// maxBody bounds an answer's body, so that a broken Content-Length or
// chunk size is an error rather than an attempt to allocate it.
const maxBody = 512 << 20

// errStale marks a connection that failed before any of the answer
// arrived, as an idle connection the server has closed does.
var errStale = errors.New("connection closed before the answer began")

// roundTrip sends req and reads the answer, then returns what handle
// returns for its status code and body. The body is valid only during
// handle. An answer of any status is passed to handle; errors are those of
// the connection, the HTTP framing and ctx.
//
// When a connection that served earlier requests fails before any of the
// answer arrives, which is how a server's closing of an idle connection
// shows, the request is sent again once on a new connection.
func (t *httpConn) roundTrip(ctx context.Context, req *request, handle func(status int, body []byte) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	t.watch(ctx)
	t.wbuf = t.appendRequest(t.wbuf[:0], req)
	for attempt := 0; ; attempt++ {
		reused := t.nc != nil
		if !reused {
			if err := t.connect(ctx); err != nil {
				return err
			}
		}
		resp, err := t.exchange()
		if err == nil {
			t.body = resp.body
			if resp.close || ctx.Err() != nil {
				// The server ends the connection, or ctx's callback may
				// have set a deadline on it.
				t.drop()
			}
			return handle(resp.status, resp.body)
		}
		t.drop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !reused || attempt > 0 || !errors.Is(err, errStale) {
			return err
		}
	}
}

// appendRequest appends the request line, the headers and the body of req.
func (t *httpConn) appendRequest(b []byte, req *request) []byte {
	b = append(b, req.method...)
	b = append(b, ' ')
	b = req.target(b)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\nUser-Agent: "+userAgent+"\r\n"...)
	if req.token != "" {
		b = append(b, "Authorization: Bearer "...)
		b = append(b, req.token...)
		b = append(b, "\r\n"...)
	}
	if req.body == nil {
		if req.method == "POST" || req.method == "PUT" {
			b = append(b, "Content-Length: 0\r\n"...)
		}
		return append(b, "\r\n"...)
	}
	t.scratch = req.body(t.scratch[:0])
	b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(t.scratch)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, t.scratch...)
}

// connect dials a new connection.
func (t *httpConn) connect(ctx context.Context) error {
	nc, err := t.dial(ctx)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", t.host, err)
	}
	t.nmu.Lock()
	t.nc = nc
	t.nmu.Unlock()
	// ctx's callback runs after ctx.Err is set: either it has run and
	// this sees it, or it will find the new connection.
	if err := ctx.Err(); err != nil {
		t.drop()
		return err
	}
	if t.br == nil {
		t.br = bufio.NewReaderSize(nc, 64<<10)
	} else {
		t.br.Reset(nc)
	}
	return nil
}

// exchange writes the request in t.wbuf and reads the answer.
func (t *httpConn) exchange() (response, error) {
	if _, err := t.nc.Write(t.wbuf); err != nil {
		return response{}, fmt.Errorf("%w: %w", errStale, err)
	}
	if _, err := t.br.Peek(1); err != nil {
		return response{}, fmt.Errorf("%w: %w", errStale, err)
	}
	return readResponse(t.br, t.body[:0])
}

// watch arranges for a cancellation of ctx to interrupt the connection's
// reads and writes. It keeps one registration per context rather than one
// per request: the senders use the same context for every message.
func (t *httpConn) watch(ctx context.Context) {
	if ctx == t.watched {
		return
	}
	if t.unwatch != nil {
		t.unwatch()
	}
	t.nmu.Lock()
	t.gen++
	gen := t.gen
	t.nmu.Unlock()
	if t.watched != nil && t.watched.Err() != nil {
		// The earlier context's callback may have set a deadline on the
		// connection before it was unwatched.
		t.drop()
	}
	t.watched, t.unwatch = ctx, nil
	if ctx.Done() != nil {
		t.unwatch = context.AfterFunc(ctx, func() { t.interrupt(gen) })
	}
}

// interrupt makes the reads and writes of the connection fail at once, if
// gen is still the context being watched.
func (t *httpConn) interrupt(gen uint64) {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	if gen == t.gen && t.nc != nil {
		t.nc.SetDeadline(time.Unix(1, 0))
	}
}

// drop closes the connection; the next request dials a new one.
func (t *httpConn) drop() {
	t.nmu.Lock()
	defer t.nmu.Unlock()
	if t.nc != nil {
		t.nc.Close()
		t.nc = nil
	}
}

// response is an answer as readResponse reads it.
type response struct {
	status int
	body   []byte
	close  bool // the connection cannot carry another request
}

// Limits of readResponse, so that a broken answer is an error rather than
// a loop.
const (
	maxHeaderLines = 1000
	maxInterim     = 16 // 1xx answers before the final one
)

// readResponse reads one HTTP/1.1 answer from br, appending its body to
// buf. Of the headers it reads only Content-Length, Transfer-Encoding and
// Connection; the body is delimited by the chunked coding, by the
// Content-Length, or else by the end of the connection. Interim (1xx)
// answers other than 101 are skipped. A line must fit br's buffer.
func readResponse(br *bufio.Reader, buf []byte) (response, error) {
	for range maxInterim + 1 {
		resp, done, err := readOne(br, buf)
		if err != nil || done {
			return resp, err
		}
	}
	return response{}, errors.New("too many interim (1xx) answers")
}

// readOne reads one answer, final or interim, and reports which it was.
func readOne(br *bufio.Reader, buf []byte) (resp response, final bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return resp, false, fmt.Errorf("reading the status line: %w", err)
	}
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
		return resp, false, fmt.Errorf("malformed status line %q", clip(line))
	}
	http10 := line[7] == '0'
	resp.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if resp.status < 100 {
		return resp, false, fmt.Errorf("malformed status line %q", clip(line))
	}

	contentLength := int64(-1)
	chunked, keepAlive := false, false
	for n := 0; ; n++ {
		line, err := readLine(br)
		if err != nil {
			return resp, false, fmt.Errorf("reading the headers: %w", err)
		}
		if len(line) == 0 {
			break
		}
		if n == maxHeaderLines {
			return resp, false, fmt.Errorf("more than %d header lines", maxHeaderLines)
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // obsolete line folding, of a header of no interest
		}
		colon := 0
		for colon < len(line) && line[colon] != ':' {
			if c := line[colon]; c == ' ' || c == '\t' {
				return resp, false, fmt.Errorf("malformed header line %q", clip(line))
			}
			colon++
		}
		if colon == 0 || colon == len(line) {
			return resp, false, fmt.Errorf("malformed header line %q", clip(line))
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			v, ok := parseLength(value)
			if !ok || (contentLength >= 0 && v != contentLength) {
				return resp, false, fmt.Errorf("bad Content-Length %q", clip(value))
			}
			contentLength = v
		case equalFold(name, "transfer-encoding"):
			for tok := range tokens(value) {
				if !equalFold(tok, "chunked") || chunked {
					return resp, false, fmt.Errorf("unsupported Transfer-Encoding %q", clip(value))
				}
				chunked = true
			}
		case equalFold(name, "connection"):
			for tok := range tokens(value) {
				switch {
				case equalFold(tok, "close"):
					resp.close = true
				case equalFold(tok, "keep-alive"):
					keepAlive = true
				}
			}
		}
	}
	if http10 && !keepAlive {
		resp.close = true
	}

	switch {
	case resp.status == 101:
		return resp, false, errors.New("unexpected 101 Switching Protocols")
	case resp.status < 200:
		return resp, false, nil // interim: the final answer follows
	case resp.status == 204 || resp.status == 304:
		resp.body = buf[:0]
	case chunked:
		if contentLength >= 0 {
			// Both framings: a sign of a confused intermediary, so the
			// connection is not trusted further (RFC 9112, 6.3).
			resp.close = true
		}
		resp.body, err = readChunked(br, buf[:0])
	case contentLength >= 0:
		if contentLength > maxBody {
			return resp, false, fmt.Errorf("Content-Length %d is over the limit of %d", contentLength, maxBody)
		}
		n := int(contentLength)
		resp.body = slices.Grow(buf[:0], n)[:n]
		if _, err = io.ReadFull(br, resp.body); err != nil {
			err = fmt.Errorf("reading a body of %d bytes: %w", n, noEOF(err))
		}
	default:
		resp.close = true
		resp.body, err = readToEOF(br, buf[:0])
	}
	return resp, err == nil, err
}

// readChunked reads a chunked body and its trailer, appending the body's
// data to buf. Chunk extensions and trailer fields are ignored.
func readChunked(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		line, err := readLine(br)
		if err != nil {
			return buf, fmt.Errorf("reading a chunk size: %w", err)
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return buf, fmt.Errorf("malformed chunk size line %q", clip(line))
		}
		if size == 0 {
			break
		}
		if size > maxBody-int64(len(buf)) {
			return buf, fmt.Errorf("chunked body over the limit of %d bytes", maxBody)
		}
		n := len(buf)
		buf = slices.Grow(buf, int(size))[:n+int(size)]
		if _, err := io.ReadFull(br, buf[n:]); err != nil {
			return buf[:n], fmt.Errorf("reading a chunk of %d bytes: %w", size, noEOF(err))
		}
		line, err = readLine(br)
		if err != nil {
			return buf, fmt.Errorf("reading the end of a chunk: %w", err)
		}
		if len(line) != 0 {
			return buf, fmt.Errorf("chunk data longer than its size %d", size)
		}
	}
	for n := 0; ; n++ {
		line, err := readLine(br)
		if err != nil {
			return buf, fmt.Errorf("reading the trailer: %w", err)
		}
		if len(line) == 0 {
			return buf, nil
		}
		if n == maxHeaderLines {
			return buf, fmt.Errorf("more than %d trailer lines", maxHeaderLines)
		}
	}
}

// readToEOF reads a body delimited by the end of the connection.
func readToEOF(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxBody {
				return buf, fmt.Errorf("body over the limit of %d bytes", maxBody)
			}
			buf = slices.Grow(buf, max(4096, len(buf)))
		}
		n, err := br.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, fmt.Errorf("reading a body up to the end of the connection: %w", err)
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine reads a line ended by LF or CRLF and returns it without them. It
// is valid until br's next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, errLineTooLong
	case err != nil:
		return nil, noEOF(err)
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, nil
}

// noEOF turns the end of the connection in the middle of an answer into
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseLength parses a Content-Length value: decimal digits only.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// parseChunkSize parses a chunk size line: hexadecimal digits, then
// optionally whitespace and extensions after a semicolon.
func parseChunkSize(line []byte) (int64, bool) {
	var v int64
	i := 0
	for ; i < len(line); i++ {
		d, ok := hexDigit(line[i])
		if !ok {
			break
		}
		if i == 15 {
			return 0, false // over 2^60: no chunk is that big
		}
		v = v<<4 | int64(d)
	}
	if i == 0 {
		return 0, false
	}
	rest := trimOWS(line[i:])
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	return v, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// tokens yields the non-empty elements of a comma-separated header value,
// without their surrounding whitespace.
func tokens(v []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			i := 0
			for i < len(v) && v[i] != ',' {
				i++
			}
			tok := trimOWS(v[:i])
			if i < len(v) {
				i++
			}
			v = v[i:]
			if len(tok) > 0 && !yield(tok) {
				return
			}
		}
	}
}

// trimOWS removes the spaces and tabs around b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b is lower, ASCII-only, ignoring case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// clip shortens b for an error message.
func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
