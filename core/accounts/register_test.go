package accounts_test

import (
	"errors"
	"strings"
	"testing"

	"hearth/core/accounts"
)

func TestRegister(t *testing.T) {
	a, _ := newAccounts(t)
	if _, err := a.CreateToken(ctx, accounts.NewToken{Token: "tok", UsesAllowed: intp(2)}); err != nil {
		t.Fatal(err)
	}
	req := accounts.AuthRequest{Op: accounts.OpRegister, Flows: tokenFlow}
	st := auth(t, a, req, nil)
	reg := accounts.Registration{Localpart: "alice", Password: "pw", Session: st.Session, Device: accounts.NewDevice{DisplayName: "phone"}}
	if _, _, err := a.Register(ctx, reg); !errors.Is(err, accounts.ErrAuthIncomplete) {
		t.Fatalf("before auth: %v", err)
	}
	st = auth(t, a, req, map[string]any{"type": accounts.StageRegistrationToken, "token": "tok", "session": st.Session})
	if !st.Done {
		t.Fatalf("auth %+v", st)
	}
	u, login, err := a.Register(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "@alice:example.org" || login.UserID != u.ID || login.DeviceID == "" || login.AccessToken == "" {
		t.Errorf("registered %+v %+v", u, login)
	}
	if c, err := a.Authenticate(ctx, login.AccessToken); err != nil || c.UserID != u.ID || c.DeviceID != login.DeviceID {
		t.Errorf("new token: %+v, %v", c, err)
	}
	if d, _ := a.Device(ctx, u.ID, login.DeviceID); d.DisplayName != "phone" {
		t.Errorf("device %+v", d)
	}
	if p, _ := a.Profile(ctx, u.ID); p.DisplayName != "alice" || p.AvatarURL != "" {
		t.Errorf("default profile %+v", p)
	}
	if tok, _ := a.Token(ctx, "tok"); tok.Pending != 0 || tok.Completed != 1 {
		t.Errorf("token after registration %+v", tok)
	}
	// The session remembers the user, and registers no one else.
	if again := auth(t, a, req, map[string]any{"session": st.Session}); again.Registered != u.ID || !again.Done {
		t.Errorf("session after registration: %+v", again)
	}
	if _, _, err := a.Register(ctx, accounts.Registration{Localpart: "bob", Password: "pw", Session: st.Session}); !errors.Is(err, accounts.ErrSessionUsed) {
		t.Errorf("reused session: %v", err)
	}
	// The session's expiry no longer gives the use back.
	if tok, _ := a.Token(ctx, "tok"); tok.Completed != 1 {
		t.Errorf("token %+v", tok)
	}
}

func TestRegisterOptions(t *testing.T) {
	a, _ := newAccounts(t)
	// No session: the caller authorised the registration itself.
	u, login, err := a.Register(ctx, accounts.Registration{Password: "pw", InhibitLogin: true})
	if err != nil {
		t.Fatal(err)
	}
	local, _, _ := accounts.SplitUserID(u.ID)
	if len(local) != accounts.GeneratedLocalpartLength || accounts.ValidateLocalpart(local, "example.org") != nil {
		t.Errorf("generated localpart %q", local)
	}
	if login != (accounts.LoginResult{}) {
		t.Errorf("inhibited login gave %+v", login)
	}
	if devs, _ := a.Devices(ctx, u.ID); len(devs) != 0 {
		t.Errorf("inhibited login made devices %+v", devs)
	}
	if _, login, err = a.Register(ctx, accounts.Registration{Localpart: "carol", Password: "pw", Device: accounts.NewDevice{ID: "CHOSEN"}}); err != nil || login.DeviceID != "CHOSEN" {
		t.Errorf("chosen device: %+v, %v", login, err)
	}
}

func TestRegisterErrors(t *testing.T) {
	a, _ := newAccounts(t)
	mustUser(t, a, "taken", "pw")
	open := auth(t, a, accounts.AuthRequest{Op: accounts.OpRegister, Flows: dummyFlow}, map[string]any{"type": accounts.StageDummy})
	other := auth(t, a, accounts.AuthRequest{Op: "deactivate", Flows: dummyFlow}, map[string]any{"type": accounts.StageDummy})
	for _, tt := range []struct {
		name string
		r    accounts.Registration
		want error
	}{
		{"taken", accounts.Registration{Localpart: "taken", Password: "pw", Session: open.Session}, accounts.ErrUserExists},
		{"invalid", accounts.Registration{Localpart: "Bad Name", Password: "pw", Session: open.Session}, accounts.ErrInvalidLocalpart},
		{"no password", accounts.Registration{Localpart: "new", Session: open.Session}, accounts.ErrEmptyPassword},
		{"long password", accounts.Registration{Localpart: "new", Password: strings.Repeat("p", 73), Session: open.Session}, accounts.ErrPasswordTooLong},
		{"bad device", accounts.Registration{Localpart: "new", Password: "pw", Session: open.Session, Device: accounts.NewDevice{ID: "\x00"}}, accounts.ErrInvalidDeviceID},
		{"unknown session", accounts.Registration{Localpart: "new", Password: "pw", Session: "nope"}, accounts.ErrUnknownSession},
		{"other op's session", accounts.Registration{Localpart: "new", Password: "pw", Session: other.Session}, accounts.ErrSessionMismatch},
	} {
		if _, _, err := a.Register(ctx, tt.r); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := a.User(ctx, "@new:example.org"); !errors.Is(err, accounts.ErrUserNotFound) {
		t.Errorf("a failed registration created the user: %v", err)
	}
	// The session is still usable after a refused username.
	if _, _, err := a.Register(ctx, accounts.Registration{Localpart: "new", Password: "pw", Session: open.Session}); err != nil {
		t.Errorf("registering after a refusal: %v", err)
	}
}
