package matrixerr

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWithCause(t *testing.T) {
	cause := &json.SyntaxError{}
	err := WithCause(New(http.StatusBadRequest, CodeBadJSON, "malformed: %v", cause), cause)
	var e Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != CodeBadJSON {
		t.Fatalf("errors.As(%v) = %+v", err, e)
	}
	if errors.Unwrap(err) != error(cause) {
		t.Errorf("errors.Unwrap = %v, want the cause", errors.Unwrap(err))
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("errors.As does not reach the cause")
	}
	rec := httptest.NewRecorder()
	Write(rec, err)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("Write status %d, want 400", rec.Code)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["errcode"] != CodeBadJSON {
		t.Errorf("Write body %s, %v", rec.Body, err)
	}
}
