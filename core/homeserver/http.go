package homeserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"hearth/core/matrixerr"
)

// maxJSONBody bounds the JSON request bodies the handlers of this package read.
const maxJSONBody = 64 << 10

// matrixMux serves requests through a ServeMux but answers the requests it
// has no route for as Matrix errors: 404 or 405 with M_UNRECOGNIZED.
type matrixMux struct {
	mux *http.ServeMux
}

func (m matrixMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := m.mux.Handler(r)
	if pattern != "" {
		m.mux.ServeHTTP(w, r)
		return
	}
	// The ServeMux's own answer: not found, method not allowed, or a
	// redirect to the canonical path. Keep its status and headers, replace
	// its plain-text errors.
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		matrixerr.Write(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeUnrecognized, "unrecognized request: %s %s", r.Method, r.URL.Path))
	case http.StatusMethodNotAllowed:
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		matrixerr.Write(w, matrixerr.New(http.StatusMethodNotAllowed, matrixerr.CodeUnrecognized, "method %s is not allowed on %s", r.Method, r.URL.Path))
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
	}
}

// recorder captures a small generated response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// cors adds the CORS headers the client-server API requires to every
// response and answers preflight OPTIONS requests itself.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
		if r.Method == http.MethodOptions {
			matrixerr.WriteJSON(w, http.StatusOK, struct{}{})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs every request at debug level with its status and duration.
func (s *Server) logRequests(listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := s.cfg.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("listener", listener),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Duration("duration", s.cfg.Now().Sub(start)),
			slog.String("remote", r.RemoteAddr))
	})
}

// readJSON decodes the request body, at most maxJSONBody bytes of one JSON
// object, into v, reporting failures as Matrix errors.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return matrixerr.New(http.StatusRequestEntityTooLarge, matrixerr.CodeTooLarge, "request body is larger than %d bytes", maxJSONBody)
		}
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeUnknown, "reading request body: %v", err)
	}
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(trimmed) {
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeNotJSON, "request body is not valid JSON")
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "request body must be a JSON object")
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "field %q has the wrong type", typeErr.Field)
		}
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "request body does not match the expected shape")
	}
	return nil
}

// bearerToken returns the access token of a request, from the Authorization
// header or the deprecated access_token query parameter.
func bearerToken(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}
