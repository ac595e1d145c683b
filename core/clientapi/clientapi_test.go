package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hearth/core/matrixerr"
)

type tokens map[string]Caller

func (t tokens) Authenticate(_ context.Context, token string) (Caller, error) {
	c, ok := t[token]
	if !ok {
		return Caller{}, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unknown token")
	}
	return c, nil
}

func newRouter() (*http.ServeMux, *Router) {
	mux := http.NewServeMux()
	rt := NewRouter(mux, tokens{"good": {UserID: "@a:x", DeviceID: "D"}})
	rt.HandleAuth("GET /whoami", func(w http.ResponseWriter, r *http.Request, c Caller) {
		WriteJSON(w, http.StatusOK, map[string]string{"user_id": c.UserID, "device_id": c.DeviceID})
	})
	rt.Handle("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := ReadJSON(w, r, &v); err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, v)
	})
	rt.HandleV1("GET /only-v1", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusOK, struct{}{}) })
	return mux, rt
}

func do(mux http.Handler, method, target, body string, header map[string]string) (int, map[string]any) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func TestRouting(t *testing.T) {
	mux, _ := newRouter()
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
		status                     int
		errcode                    string
	}{
		{"v3 with header", "GET", "/_matrix/client/v3/whoami", "", map[string]string{"Authorization": "Bearer good"}, 200, ""},
		{"r0 alias", "GET", "/_matrix/client/r0/whoami", "", map[string]string{"Authorization": "Bearer good"}, 200, ""},
		{"query token", "GET", "/_matrix/client/v3/whoami?access_token=good", "", nil, 200, ""},
		{"no token", "GET", "/_matrix/client/v3/whoami", "", nil, 401, "M_MISSING_TOKEN"},
		{"bad token", "GET", "/_matrix/client/v3/whoami", "", map[string]string{"Authorization": "Bearer bad"}, 401, "M_UNKNOWN_TOKEN"},
		{"wrong scheme", "GET", "/_matrix/client/v3/whoami", "", map[string]string{"Authorization": "Basic good"}, 401, "M_MISSING_TOKEN"},
		{"json ok", "POST", "/_matrix/client/v3/echo", `{"a":1}`, nil, 200, ""},
		{"empty body is {}", "POST", "/_matrix/client/v3/echo", ``, nil, 200, ""},
		{"not json", "POST", "/_matrix/client/v3/echo", `{a`, nil, 400, "M_NOT_JSON"},
		{"not an object", "POST", "/_matrix/client/v3/echo", `[1]`, nil, 400, "M_BAD_JSON"},
		{"too large", "POST", "/_matrix/client/v3/echo", `{"a":"` + strings.Repeat("x", MaxJSONBody) + `"}`, nil, 413, "M_TOO_LARGE"},
		{"v1 route", "GET", "/_matrix/client/v1/only-v1", "", nil, 200, ""},
	}
	for _, tc := range tests {
		status, body := do(mux, tc.method, tc.target, tc.body, tc.header)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%v)", tc.name, status, tc.status, body)
		}
		if tc.errcode != "" && body["errcode"] != tc.errcode {
			t.Errorf("%s: errcode %v, want %s", tc.name, body["errcode"], tc.errcode)
		}
	}
	_, body := do(mux, "GET", "/_matrix/client/v3/whoami", "", map[string]string{"Authorization": "Bearer good"})
	if body["user_id"] != "@a:x" || body["device_id"] != "D" {
		t.Fatalf("whoami body %v", body)
	}
}

func TestQueryInt(t *testing.T) {
	for _, tc := range []struct {
		q       string
		want    int64
		wantErr bool
	}{{"", 7, false}, {"limit=3", 3, false}, {"limit=-1", 0, true}, {"limit=x", 0, true}} {
		r := httptest.NewRequest("GET", "/?"+tc.q, nil)
		got, err := QueryInt(r, "limit", 7)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("QueryInt(%q) = %d, %v", tc.q, got, err)
		}
	}
}
