package matrixerr_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"hearth/core/matrixerr"
)

func TestWrite(t *testing.T) {
	limited := matrixerr.New(http.StatusTooManyRequests, matrixerr.CodeLimitExceeded, "slow down")
	limited.RetryAfterMS = 1500
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"error", matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "no %s", "entry"), 403,
			`{"errcode":"M_FORBIDDEN","error":"no entry"}`},
		{"wrapped", fmt.Errorf("context: %w", matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "gone")), 404,
			`{"errcode":"M_NOT_FOUND","error":"gone"}`},
		{"retry", limited, 429,
			`{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":1500}`},
		{"plain error hidden", errors.New("disk on fire"), 500,
			`{"errcode":"M_UNKNOWN","error":"internal server error"}`},
		{"zero fields filled", matrixerr.Error{Message: "odd"}, 500,
			`{"errcode":"M_UNKNOWN","error":"odd"}`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		matrixerr.Write(rec, tt.err)
		if rec.Code != tt.status || rec.Body.String() != tt.body {
			t.Errorf("%s: %d %s, want %d %s", tt.name, rec.Code, rec.Body, tt.status, tt.body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.name, ct)
		}
		if cl := rec.Header().Get("Content-Length"); cl != fmt.Sprint(len(tt.body)) {
			t.Errorf("%s: Content-Length %q, want %d", tt.name, cl, len(tt.body))
		}
	}
}

func TestErrorString(t *testing.T) {
	e := matrixerr.New(400, matrixerr.CodeBadJSON, "bad")
	if got := e.Error(); got != "400 M_BAD_JSON: bad" {
		t.Errorf("Error() = %q", got)
	}
}

func TestWriteJSONUnencodable(t *testing.T) {
	rec := httptest.NewRecorder()
	matrixerr.WriteJSON(rec, http.StatusOK, map[string]any{"f": func() {}})
	if rec.Code != 500 || rec.Body.String() != `{"errcode":"M_UNKNOWN","error":"internal server error"}` {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
}

func TestWriteJSONBody(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"object", http.StatusOK, `{"next_batch":"s1","rooms":{}}`},
		{"error status", http.StatusNotFound, `{"errcode":"M_NOT_FOUND","error":"gone"}`},
		{"not checked", http.StatusOK, `{"a":<>}`},
		{"empty", http.StatusOK, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			body := []byte(tt.body)
			matrixerr.WriteJSONBody(rec, tt.status, body)
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Errorf("got %d %s, want %d %s", rec.Code, rec.Body, tt.status, tt.body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if cl := rec.Header().Get("Content-Length"); cl != fmt.Sprint(len(tt.body)) {
				t.Errorf("Content-Length %q, want %d", cl, len(tt.body))
			}
		})
	}
}
