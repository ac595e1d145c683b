package accounts_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"hearth/core/accounts"
)

var (
	dummyFlow    = []accounts.Flow{{Stages: []string{accounts.StageDummy}}}
	tokenFlow    = []accounts.Flow{{Stages: []string{accounts.StageRegistrationToken}}}
	passwordFlow = []accounts.Flow{{Stages: []string{accounts.StagePassword}}}
)

func auth(t *testing.T, a *accounts.Accounts, req accounts.AuthRequest, authDict map[string]any) accounts.AuthStatus {
	t.Helper()
	if authDict != nil {
		b, err := json.Marshal(authDict)
		if err != nil {
			t.Fatal(err)
		}
		req.Auth = b
	}
	st, err := a.UserInteractiveAuth(ctx, req)
	if err != nil {
		t.Fatalf("UserInteractiveAuth(%s, %v): %v", req.Op, authDict, err)
	}
	return st
}

func TestUIADummy(t *testing.T) {
	a, _ := newAccounts(t)
	req := accounts.AuthRequest{Op: accounts.OpRegister, Flows: dummyFlow}
	st := auth(t, a, req, nil)
	if st.Done || len(st.Session) != accounts.UIASessionIDLength || st.Completed == nil || len(st.Completed) != 0 || !slices.EqualFunc(st.Flows, dummyFlow, func(x, y accounts.Flow) bool { return slices.Equal(x.Stages, y.Stages) }) {
		t.Fatalf("no auth: %+v", st)
	}
	// Polling without a type only reports.
	if st2 := auth(t, a, req, map[string]any{"session": st.Session}); st2.Done || st2.Err != nil || st2.Session != st.Session {
		t.Errorf("poll: %+v", st2)
	}
	st = auth(t, a, req, map[string]any{"type": accounts.StageDummy, "session": st.Session})
	if !st.Done || st.Err != nil || !slices.Equal(st.Completed, []string{accounts.StageDummy}) {
		t.Errorf("dummy: %+v", st)
	}
	// Retrying a completed stage answers with the completed state.
	if again := auth(t, a, req, map[string]any{"type": accounts.StageDummy, "session": st.Session}); !again.Done {
		t.Errorf("retry: %+v", again)
	}
	// An auth without a session starts one and checks the stage in it.
	if one := auth(t, a, req, map[string]any{"type": accounts.StageDummy}); !one.Done || one.Session == st.Session {
		t.Errorf("sessionless dummy: %+v", one)
	}
	// auth: null is no auth.
	if st, err := a.UserInteractiveAuth(ctx, accounts.AuthRequest{Op: accounts.OpRegister, Flows: dummyFlow, Auth: json.RawMessage("null")}); err != nil || st.Done {
		t.Errorf("null auth: %+v, %v", st, err)
	}
}

func TestUIAErrors(t *testing.T) {
	a, c := newAccounts(t)
	mustUser(t, a, "alice", "pw")
	req := accounts.AuthRequest{Op: accounts.OpRegister, Flows: dummyFlow}
	st := auth(t, a, req, nil)

	hard := []struct {
		name string
		req  accounts.AuthRequest
		auth string
		want error
	}{
		{"not an object", req, `[1]`, accounts.ErrBadAuth},
		{"type not a string", req, `{"type":1}`, accounts.ErrBadAuth},
		{"unknown session", req, `{"type":"m.login.dummy","session":"nope"}`, accounts.ErrUnknownSession},
		{"other op", accounts.AuthRequest{Op: "delete_devices", Flows: dummyFlow}, `{"type":"m.login.dummy","session":"` + st.Session + `"}`, accounts.ErrSessionMismatch},
	}
	for _, tt := range hard {
		tt.req.Auth = json.RawMessage(tt.auth)
		if _, err := a.UserInteractiveAuth(ctx, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := a.UserInteractiveAuth(ctx, accounts.AuthRequest{Op: "x"}); err == nil {
		t.Error("no flows accepted")
	}

	soft := []struct {
		name string
		auth map[string]any
		want error
	}{
		{"unknown stage", map[string]any{"type": "m.login.recaptcha", "session": st.Session}, accounts.ErrUnknownStage},
		{"stage not in flow", map[string]any{"type": accounts.StagePassword, "session": st.Session}, accounts.ErrStageNotExpected},
	}
	for _, tt := range soft {
		got := auth(t, a, req, tt.auth)
		if !errors.Is(got.Err, tt.want) || got.Done || got.Session != st.Session {
			t.Errorf("%s: %+v, want Err %v", tt.name, got, tt.want)
		}
	}

	// Sessions expire.
	c.t = c.t.Add(accounts.DefaultUIASessionLifetime)
	if _, err := a.UserInteractiveAuth(ctx, accounts.AuthRequest{Op: accounts.OpRegister, Flows: dummyFlow, Auth: json.RawMessage(`{"session":"` + st.Session + `"}`)}); !errors.Is(err, accounts.ErrUnknownSession) {
		t.Errorf("expired session: %v", err)
	}
}

func TestUIAFlowOrder(t *testing.T) {
	a, _ := newAccounts(t)
	if _, err := a.CreateToken(ctx, accounts.NewToken{Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	flows := []accounts.Flow{{Stages: []string{accounts.StageRegistrationToken, accounts.StageDummy}}}
	req := accounts.AuthRequest{Op: accounts.OpRegister, Flows: flows}
	st := auth(t, a, req, nil)
	if got := auth(t, a, req, map[string]any{"type": accounts.StageDummy, "session": st.Session}); !errors.Is(got.Err, accounts.ErrStageNotExpected) {
		t.Errorf("dummy before token: %+v", got)
	}
	got := auth(t, a, req, map[string]any{"type": accounts.StageRegistrationToken, "token": "tok", "session": st.Session})
	if got.Done || got.Err != nil || !slices.Equal(got.Completed, []string{accounts.StageRegistrationToken}) {
		t.Errorf("token stage: %+v", got)
	}
	got = auth(t, a, req, map[string]any{"type": accounts.StageDummy, "session": st.Session})
	if !got.Done || !slices.Equal(got.Completed, []string{accounts.StageRegistrationToken, accounts.StageDummy}) {
		t.Errorf("dummy stage: %+v", got)
	}
}

func TestUIARegistrationToken(t *testing.T) {
	a, c := newAccounts(t)
	if _, err := a.CreateToken(ctx, accounts.NewToken{Token: "once", UsesAllowed: intp(1)}); err != nil {
		t.Fatal(err)
	}
	exp := c.t.Add(time.Minute).UnixMilli()
	if _, err := a.CreateToken(ctx, accounts.NewToken{Token: "soon", ExpiryTime: &exp}); err != nil {
		t.Fatal(err)
	}
	req := accounts.AuthRequest{Op: accounts.OpRegister, Flows: tokenFlow}
	st := auth(t, a, req, nil)
	for _, tt := range []struct {
		name string
		auth map[string]any
		want error
	}{
		{"missing token", map[string]any{"type": accounts.StageRegistrationToken, "session": st.Session}, accounts.ErrMissingAuthParam},
		{"unknown token", map[string]any{"type": accounts.StageRegistrationToken, "token": "nope", "session": st.Session}, accounts.ErrTokenNotFound},
		{"malformed token", map[string]any{"type": accounts.StageRegistrationToken, "token": "a b", "session": st.Session}, accounts.ErrTokenNotFound},
		{"dummy", map[string]any{"type": accounts.StageDummy, "session": st.Session}, accounts.ErrStageNotExpected},
	} {
		if got := auth(t, a, req, tt.auth); !errors.Is(got.Err, tt.want) || got.Done {
			t.Errorf("%s: %+v, want %v", tt.name, got, tt.want)
		}
	}
	got := auth(t, a, req, map[string]any{"type": accounts.StageRegistrationToken, "token": "once", "session": st.Session})
	if !got.Done || got.Err != nil {
		t.Fatalf("token stage: %+v", got)
	}
	// The use is reserved: the token is not valid for anyone else.
	if tok, _ := a.Token(ctx, "once"); tok.Pending != 1 || tok.Completed != 0 {
		t.Errorf("reserved token %+v", tok)
	}
	if ok, _ := a.TokenValid(ctx, "once"); ok {
		t.Error("token with its only use reserved is valid")
	}
	other := auth(t, a, req, nil)
	if got := auth(t, a, req, map[string]any{"type": accounts.StageRegistrationToken, "token": "once", "session": other.Session}); !errors.Is(got.Err, accounts.ErrTokenUsedUp) {
		t.Errorf("second session: %+v", got)
	}
	// An expired token fails the stage.
	c.t = c.t.Add(time.Minute)
	if got := auth(t, a, req, map[string]any{"type": accounts.StageRegistrationToken, "token": "soon", "session": other.Session}); !errors.Is(got.Err, accounts.ErrTokenExpired) {
		t.Errorf("expired token: %+v", got)
	}
	// When the reserving session expires, the use is given back.
	c.t = c.t.Add(accounts.DefaultUIASessionLifetime)
	if ok, err := a.TokenValid(ctx, "once"); !ok || err != nil {
		t.Errorf("token after the session expired: %v, %v", ok, err)
	}
	if tok, _ := a.Token(ctx, "once"); tok.Pending != 0 {
		t.Errorf("token after sweep %+v", tok)
	}
}

func TestUIAPassword(t *testing.T) {
	a, _ := newAccounts(t)
	alice := mustUser(t, a, "alice", "pw")
	bob := mustUser(t, a, "bob", "pw")
	req := accounts.AuthRequest{Op: "password", Flows: passwordFlow, UserID: alice}
	st := auth(t, a, req, nil)
	if st.UserID != alice {
		t.Errorf("session not bound to the caller: %+v", st)
	}
	for _, tt := range []struct {
		name string
		auth map[string]any
		want error
	}{
		{"wrong password", map[string]any{"type": accounts.StagePassword, "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": "nope"}, accounts.ErrWrongPassword},
		{"other user", map[string]any{"type": accounts.StagePassword, "identifier": map[string]any{"type": "m.id.user", "user": "bob"}, "password": "pw"}, accounts.ErrWrongUser},
		{"no identifier", map[string]any{"type": accounts.StagePassword, "password": "pw"}, accounts.ErrMissingIdentifier},
		{"threepid", map[string]any{"type": accounts.StagePassword, "identifier": map[string]any{"type": "m.id.thirdparty", "medium": "email", "address": "a@b"}, "password": "pw"}, accounts.ErrUnknownThreepid},
		{"no password", map[string]any{"type": accounts.StagePassword, "user": "alice"}, accounts.ErrMissingAuthParam},
		{"unknown user", map[string]any{"type": accounts.StagePassword, "user": "carol", "password": "pw"}, accounts.ErrWrongUser},
	} {
		tt.auth["session"] = st.Session
		if got := auth(t, a, req, tt.auth); !errors.Is(got.Err, tt.want) || got.Done {
			t.Errorf("%s: %+v, want %v", tt.name, got, tt.want)
		}
	}
	// Another caller cannot use alice's session.
	bobReq := req
	bobReq.UserID = bob
	bobReq.Auth = json.RawMessage(`{"session":"` + st.Session + `"}`)
	if _, err := a.UserInteractiveAuth(ctx, bobReq); !errors.Is(err, accounts.ErrSessionMismatch) {
		t.Errorf("bob using alice's session: %v", err)
	}
	// Nor can a request without an access token.
	anonReq := req
	anonReq.UserID = ""
	anonReq.Auth = json.RawMessage(`{"session":"` + st.Session + `"}`)
	if _, err := a.UserInteractiveAuth(ctx, anonReq); !errors.Is(err, accounts.ErrSessionMismatch) {
		t.Errorf("anonymous use of alice's session: %v", err)
	}
	// The legacy top-level user and a full user ID in any case both work.
	got := auth(t, a, req, map[string]any{"type": accounts.StagePassword, "user": "@ALICE:example.org", "password": "pw", "session": st.Session})
	if !got.Done || got.UserID != alice {
		t.Errorf("password stage: %+v", got)
	}

	// Without a caller, the password stage decides the user.
	anon := accounts.AuthRequest{Op: "password", Flows: passwordFlow}
	got = auth(t, a, anon, map[string]any{"type": accounts.StagePassword, "identifier": map[string]any{"type": "m.id.user", "user": "bob"}, "password": "pw"})
	if !got.Done || got.UserID != bob {
		t.Errorf("anonymous password stage: %+v", got)
	}
	// That session then serves bob, with or without his token, and no
	// one else.
	for _, tt := range []struct {
		caller string
		want   error
	}{{"", nil}, {bob, nil}, {alice, accounts.ErrSessionMismatch}} {
		r := anon
		r.UserID = tt.caller
		r.Auth = json.RawMessage(`{"session":"` + got.Session + `"}`)
		if _, err := a.UserInteractiveAuth(ctx, r); !errors.Is(err, tt.want) {
			t.Errorf("anonymous session used by %q: %v, want %v", tt.caller, err, tt.want)
		}
	}
	got = auth(t, a, anon, map[string]any{"type": accounts.StagePassword, "identifier": map[string]any{"type": "m.id.user", "user": "carol"}, "password": "pw"})
	if !errors.Is(got.Err, accounts.ErrUserNotFound) {
		t.Errorf("anonymous unknown user: %+v", got)
	}
}

func TestIdentifiedUser(t *testing.T) {
	a, _ := newAccounts(t)
	for _, tt := range []struct {
		id   *accounts.Identifier
		user string
		want string
		err  error
	}{
		{&accounts.Identifier{Type: "m.id.user", User: "alice"}, "", "@alice:example.org", nil},
		{&accounts.Identifier{Type: "m.id.user", User: "@Alice:example.org"}, "", "@alice:example.org", nil},
		{nil, "Alice", "@alice:example.org", nil},
		{nil, "", "", accounts.ErrMissingIdentifier},
		{&accounts.Identifier{Type: "m.id.user"}, "alice", "", accounts.ErrMissingIdentifier},
		{&accounts.Identifier{}, "", "", accounts.ErrMissingIdentifier},
		{&accounts.Identifier{Type: "m.id.phone", Country: "GB", Phone: "1"}, "", "", accounts.ErrUnknownThreepid},
		{&accounts.Identifier{Type: "m.id.thirdparty", Medium: "email", Address: "a@b"}, "", "", accounts.ErrUnknownThreepid},
		{&accounts.Identifier{Type: "org.example.id"}, "", "", accounts.ErrUnknownIdentifier},
		{nil, "@alice:elsewhere", "", accounts.ErrUserNotFound},
		{nil, "al ice", "", accounts.ErrUserNotFound},
		{nil, "@alice", "", accounts.ErrUserNotFound},
	} {
		got, err := a.IdentifiedUser(tt.id, tt.user)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("IdentifiedUser(%+v, %q) = %q, %v; want %q, %v", tt.id, tt.user, got, err, tt.want, tt.err)
		}
	}
}
