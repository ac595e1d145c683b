package apitest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"hearth/core/clientapi"
)

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		token, user string
		ok          bool
	}{
		{"alice", "@alice:a.test", true},
		{"", "", false},
		{"a:b", "", false},
		{"@a", "", false},
	} {
		c, err := Tokens("a.test").Authenticate(context.Background(), tc.token)
		if (err == nil) != tc.ok || c.UserID != tc.user {
			t.Errorf("Authenticate(%q) = %+v, %v", tc.token, c, err)
		}
	}
}

func TestDoExpectClock(t *testing.T) {
	mux := http.NewServeMux()
	rt := clientapi.NewRouter(mux, Tokens("a.test"))
	rt.HandleAuth("POST /echo", func(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
		clientapi.WriteJSON(w, http.StatusOK, map[string]string{"user": c.UserID})
	})
	if out := Expect(t, mux, "bob", "POST", "/echo", map[string]int{"a": 1}, http.StatusOK, ""); out["user"] != "@bob:a.test" {
		t.Errorf("echo = %v", out)
	}
	Expect(t, mux, "", "POST", "/echo", nil, http.StatusUnauthorized, "M_MISSING_TOKEN")
	c := NewClock()
	c.Advance(time.Second)
	if got := c.Now().Sub(Epoch); got != time.Second {
		t.Errorf("clock advanced %v", got)
	}
	if Esc("!r:x") != "%21r%3Ax" {
		t.Errorf("Esc = %q", Esc("!r:x"))
	}
}
