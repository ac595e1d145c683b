package accounts_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"hearth/core/accounts"
)

func TestChangePassword(t *testing.T) {
	a, _, h := newHooked(t)
	alice := mustUser(t, a, "alice", "old")
	keep := mustLogin(t, a, alice, "old", accounts.NewDevice{ID: "KEEP"})
	other := mustLogin(t, a, alice, "old", accounts.NewDevice{ID: "OTHER"})
	a.Authenticate(ctx, other.AccessToken) // cached

	// Without logout_devices, every device stays.
	if err := a.ChangePassword(ctx, alice, "new", "KEEP", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CheckPassword(ctx, alice, "old"); !errors.Is(err, accounts.ErrWrongPassword) {
		t.Errorf("old password: %v", err)
	}
	if _, err := a.CheckPassword(ctx, alice, "new"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, err := a.Authenticate(ctx, other.AccessToken); err != nil {
		t.Errorf("other device logged out without logout_devices: %v", err)
	}

	if err := a.ChangePassword(ctx, alice, "newer", "KEEP", true); err != nil {
		t.Fatal(err)
	}
	wantUnknownToken(t, a, other.AccessToken, "other device after logout_devices")
	if _, err := a.Authenticate(ctx, keep.AccessToken); err != nil {
		t.Errorf("requesting device logged out: %v", err)
	}
	if want := []string{alice + "/OTHER"}; !slices.Equal(h.deleted, want) {
		t.Errorf("OnDeviceDeleted %v, want %v", h.deleted, want)
	}

	// Without a requesting device, logout_devices logs out everything.
	if err := a.ChangePassword(ctx, alice, "newest", "", true); err != nil {
		t.Fatal(err)
	}
	wantUnknownToken(t, a, keep.AccessToken, "all devices")

	for _, tt := range []struct {
		name, user, pw string
		want           error
	}{
		{"empty", alice, "", accounts.ErrEmptyPassword},
		{"long", alice, strings.Repeat("p", 73), accounts.ErrPasswordTooLong},
		{"unknown user", "@bob:example.org", "pw", accounts.ErrUserNotFound},
	} {
		if err := a.ChangePassword(ctx, tt.user, tt.pw, "", false); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestDeactivate(t *testing.T) {
	a, _, h := newHooked(t)
	alice := mustUser(t, a, "alice", "pw")
	l1 := mustLogin(t, a, alice, "pw", accounts.NewDevice{ID: "ONE"})
	l2 := mustLogin(t, a, alice, "pw", accounts.NewDevice{ID: "TWO"})
	a.Authenticate(ctx, l1.AccessToken)
	if err := a.SetAvatarURL(ctx, alice, "mxc://example.org/a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Deactivate(ctx, alice); err != nil {
		t.Fatal(err)
	}
	wantUnknownToken(t, a, l1.AccessToken, "deactivated")
	wantUnknownToken(t, a, l2.AccessToken, "deactivated")
	if _, err := a.Login(ctx, alice, "pw", accounts.NewDevice{}); !errors.Is(err, accounts.ErrUserDeactivated) {
		t.Errorf("login after deactivation: %v", err)
	}
	if _, err := a.Login(ctx, alice, "wrong", accounts.NewDevice{}); !errors.Is(err, accounts.ErrWrongPassword) {
		t.Errorf("wrong password after deactivation: %v (must not reveal deactivation)", err)
	}
	if _, err := a.IssueLogin(ctx, alice, accounts.NewDevice{}); !errors.Is(err, accounts.ErrUserDeactivated) {
		t.Errorf("IssueLogin after deactivation: %v", err)
	}
	if u, _ := a.User(ctx, alice); !u.Deactivated {
		t.Errorf("user %+v", u)
	}
	if p, _ := a.Profile(ctx, alice); p != (accounts.Profile{}) {
		t.Errorf("profile not cleared: %+v", p)
	}
	if err := a.SetDisplayName(ctx, alice, "x"); !errors.Is(err, accounts.ErrUserDeactivated) {
		t.Errorf("SetDisplayName after deactivation: %v", err)
	}
	if err := a.ChangePassword(ctx, alice, "x", "", true); !errors.Is(err, accounts.ErrUserDeactivated) {
		t.Errorf("ChangePassword after deactivation: %v", err)
	}
	if _, err := a.CreateUser(ctx, accounts.NewUser{Localpart: "alice", Password: "pw"}); !errors.Is(err, accounts.ErrUserExists) {
		t.Errorf("reusing a deactivated ID: %v", err)
	}
	slices.Sort(h.deleted)
	if want := []string{alice + "/ONE", alice + "/TWO"}; !slices.Equal(h.deleted, want) {
		t.Errorf("OnDeviceDeleted %v, want %v", h.deleted, want)
	}
	if want := []string{alice}; !slices.Equal(h.deact, want) {
		t.Errorf("OnDeactivated %v, want %v", h.deact, want)
	}
	if err := a.Deactivate(ctx, alice); err != nil {
		t.Errorf("deactivating twice: %v", err)
	}
	if err := a.Deactivate(ctx, "@bob:example.org"); !errors.Is(err, accounts.ErrUserNotFound) {
		t.Errorf("deactivating an unknown user: %v", err)
	}
}

func TestProfile(t *testing.T) {
	a, _ := newAccounts(t)
	alice := mustUser(t, a, "alice", "pw")
	if p, err := a.Profile(ctx, alice); err != nil || p.DisplayName != "alice" {
		t.Errorf("default profile %+v, %v", p, err)
	}
	if err := a.SetDisplayName(ctx, alice, "Alice A."); err != nil {
		t.Fatal(err)
	}
	if err := a.SetAvatarURL(ctx, alice, "mxc://example.org/abc"); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.Profile(ctx, alice); p != (accounts.Profile{DisplayName: "Alice A.", AvatarURL: "mxc://example.org/abc"}) {
		t.Errorf("profile %+v", p)
	}
	if err := a.SetDisplayName(ctx, alice, ""); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.Profile(ctx, alice); p != (accounts.Profile{AvatarURL: "mxc://example.org/abc"}) {
		t.Errorf("profile after clearing the name %+v", p)
	}
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"long name", a.SetDisplayName(ctx, alice, strings.Repeat("n", accounts.MaxDisplayNameLength+1)), accounts.ErrProfileTooLong},
		{"long avatar", a.SetAvatarURL(ctx, alice, strings.Repeat("u", accounts.MaxAvatarURLLength+1)), accounts.ErrProfileTooLong},
		{"unknown user name", a.SetDisplayName(ctx, "@bob:example.org", "b"), accounts.ErrUserNotFound},
		{"remote user avatar", a.SetAvatarURL(ctx, "@bob:elsewhere", "b"), accounts.ErrUserNotFound},
	} {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if _, err := a.Profile(ctx, "@bob:example.org"); !errors.Is(err, accounts.ErrUserNotFound) {
		t.Errorf("unknown user's profile: %v", err)
	}
}
