//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall/js"

	"hearth/core/homeserver"
)

// exportFetch defines global.hearthFetch(method, path, body), which returns a
// Promise of {status, headers, body} answered by hs. The caller releases the
// returned function when the module stops.
func exportFetch(global js.Value, hs *homeserver.Server) js.Func {
	client, federation := hs.ClientHandler(), hs.FederationHandler()
	promise := global.Get("Promise")
	fn := js.FuncOf(func(this js.Value, args []js.Value) any {
		method, path, body := "GET", "/", ""
		if len(args) > 0 && args[0].Type() == js.TypeString {
			method = args[0].String()
		}
		if len(args) > 1 && args[1].Type() == js.TypeString {
			path = args[1].String()
		}
		if len(args) > 2 && args[2].Type() == js.TypeString {
			body = args[2].String()
		}
		var executor js.Func
		executor = js.FuncOf(func(this js.Value, pargs []js.Value) any {
			resolve, reject := pargs[0], pargs[1]
			executor.Release()
			// A handler may block (store, locks); JavaScript must not wait.
			go func() {
				h := client
				if strings.HasPrefix(path, "/_matrix/federation/") || strings.HasPrefix(path, "/_matrix/key/") {
					h = federation
				}
				res, err := serve(h, method, path, body)
				if err != nil {
					reject.Invoke(js.Global().Get("Error").New(err.Error()))
					return
				}
				resolve.Invoke(res)
			}()
			return nil
		})
		return promise.New(executor)
	})
	global.Set("hearthFetch", fn)
	return fn
}

// serve runs one request through h and returns the JavaScript object
// {status, headers, body}.
func serve(h http.Handler, method, path, body string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, path, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("hearthFetch: %w", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.RemoteAddr = "browser"
	rec := &responseRecorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	headers := map[string]any{}
	for k, v := range rec.header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return map[string]any{"status": rec.status, "headers": headers, "body": rec.body.String()}, nil
}

// responseRecorder collects a response in memory.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header { return r.header }

func (r *responseRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
