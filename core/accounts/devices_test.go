package accounts_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth/core/accounts"
	"hearth/core/matrixerr"
	"hearth/persist/memory"
)

// hookLog records the hooks Accounts calls.
type hookLog struct {
	mu      sync.Mutex
	deleted []string // "user/device"
	updated []string
	deact   []string
}

func (h *hookLog) config(c *accounts.Config) {
	c.OnDeviceDeleted = func(_ context.Context, u, d string) {
		h.mu.Lock()
		h.deleted = append(h.deleted, u+"/"+d)
		h.mu.Unlock()
	}
	c.OnDeviceUpdated = func(_ context.Context, u, d string) {
		h.mu.Lock()
		h.updated = append(h.updated, u+"/"+d)
		h.mu.Unlock()
	}
	c.OnDeactivated = func(_ context.Context, u string) { h.mu.Lock(); h.deact = append(h.deact, u); h.mu.Unlock() }
}

func newHooked(t *testing.T) (*accounts.Accounts, *clock, *hookLog) {
	t.Helper()
	c := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := &hookLog{}
	cfg := accounts.Config{
		ServerName: "example.org",
		Store:      memory.New(),
		Now:        c.now,
		Rand:       rand.NewChaCha8([32]byte{7}),
		BcryptCost: 4,
	}
	h.config(&cfg)
	a, err := accounts.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, c, h
}

func mustUser(t *testing.T, a *accounts.Accounts, localpart, password string) string {
	t.Helper()
	u, err := a.CreateUser(ctx, accounts.NewUser{Localpart: localpart, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func mustLogin(t *testing.T, a *accounts.Accounts, user, password string, d accounts.NewDevice) accounts.LoginResult {
	t.Helper()
	l, err := a.Login(ctx, user, password, d)
	if err != nil {
		t.Fatalf("Login(%s, %+v): %v", user, d, err)
	}
	return l
}

func wantUnknownToken(t *testing.T, a *accounts.Accounts, token, why string) {
	t.Helper()
	_, err := a.Authenticate(ctx, token)
	var me matrixerr.Error
	if !errors.As(err, &me) || me.Status != http.StatusUnauthorized || me.Code != matrixerr.CodeUnknownToken {
		t.Errorf("%s: Authenticate = %v, want 401 M_UNKNOWN_TOKEN", why, err)
	}
}

func TestLoginAndAuthenticate(t *testing.T) {
	a, c, _ := newHooked(t)
	alice := mustUser(t, a, "alice", "pw")
	l := mustLogin(t, a, alice, "pw", accounts.NewDevice{DisplayName: "phone", IP: "192.0.2.1"})
	if l.UserID != alice || len(l.DeviceID) != accounts.GeneratedDeviceIDLength || !strings.HasPrefix(l.AccessToken, accounts.AccessTokenPrefix) {
		t.Fatalf("login %+v", l)
	}
	caller, err := a.Authenticate(ctx, l.AccessToken)
	if err != nil || caller.UserID != alice || caller.DeviceID != l.DeviceID || caller.AccessToken != l.AccessToken || caller.IsGuest {
		t.Fatalf("Authenticate = %+v, %v", caller, err)
	}
	d, err := a.Device(ctx, alice, l.DeviceID)
	if err != nil || d.DisplayName != "phone" || d.LastSeenIP != "192.0.2.1" || d.LastSeenTS != c.t.UnixMilli() || d.CreatedTS != c.t.UnixMilli() || d.UserID != alice {
		t.Errorf("Device = %+v, %v", d, err)
	}
	for _, tok := range []string{"", "nope", accounts.AccessTokenPrefix + "x", strings.Repeat("x", 600)} {
		wantUnknownToken(t, a, tok, "bad token "+tok)
	}

	// A second login with the same device ID keeps the device and its
	// name, and revokes the old token.
	l2 := mustLogin(t, a, alice, "pw", accounts.NewDevice{ID: l.DeviceID, DisplayName: "ignored"})
	if l2.DeviceID != l.DeviceID || l2.AccessToken == l.AccessToken {
		t.Fatalf("relogin %+v", l2)
	}
	wantUnknownToken(t, a, l.AccessToken, "replaced token")
	if _, err := a.Authenticate(ctx, l2.AccessToken); err != nil {
		t.Errorf("new token: %v", err)
	}
	if d, _ := a.Device(ctx, alice, l.DeviceID); d.DisplayName != "phone" {
		t.Errorf("relogin renamed the device: %+v", d)
	}

	// A client-chosen device ID.
	l3 := mustLogin(t, a, "@alice:example.org", "pw", accounts.NewDevice{ID: "MYDEVICE"})
	if l3.DeviceID != "MYDEVICE" {
		t.Errorf("chosen device ID: %+v", l3)
	}
	devs, err := a.Devices(ctx, alice)
	if err != nil || len(devs) != 2 {
		t.Fatalf("Devices = %+v, %v", devs, err)
	}
}

func TestLoginErrors(t *testing.T) {
	a, _, _ := newHooked(t)
	alice := mustUser(t, a, "alice", "pw")
	tests := []struct {
		name, user, pw string
		d              accounts.NewDevice
		want           error
	}{
		{"wrong password", alice, "PW", accounts.NewDevice{}, accounts.ErrWrongPassword},
		{"unknown user", "@bob:example.org", "pw", accounts.NewDevice{}, accounts.ErrUserNotFound},
		{"remote user", "@alice:elsewhere", "pw", accounts.NewDevice{}, accounts.ErrUserNotFound},
		{"bad device ID", alice, "pw", accounts.NewDevice{ID: "a\nb"}, accounts.ErrInvalidDeviceID},
		{"long device ID", alice, "pw", accounts.NewDevice{ID: strings.Repeat("D", accounts.MaxDeviceIDLength+1)}, accounts.ErrInvalidDeviceID},
		{"long name", alice, "pw", accounts.NewDevice{DisplayName: strings.Repeat("n", accounts.MaxDeviceDisplayNameLength+1)}, accounts.ErrDeviceNameTooLong},
	}
	for _, tt := range tests {
		if _, err := a.Login(ctx, tt.user, tt.pw, tt.d); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if devs, _ := a.Devices(ctx, alice); len(devs) != 0 {
		t.Errorf("failed logins left devices: %+v", devs)
	}
}

func TestLogout(t *testing.T) {
	a, _, h := newHooked(t)
	alice := mustUser(t, a, "alice", "pw")
	one := mustLogin(t, a, alice, "pw", accounts.NewDevice{ID: "ONE"})
	two := mustLogin(t, a, alice, "pw", accounts.NewDevice{ID: "TWO"})
	three := mustLogin(t, a, alice, "pw", accounts.NewDevice{ID: "THREE"})
	// Warm the cache so that logout must invalidate it.
	for _, l := range []accounts.LoginResult{one, two, three} {
		if _, err := a.Authenticate(ctx, l.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Logout(ctx, one.AccessToken); err != nil {
		t.Fatal(err)
	}
	wantUnknownToken(t, a, one.AccessToken, "logged out")
	if _, err := a.Device(ctx, alice, "ONE"); !errors.Is(err, accounts.ErrDeviceNotFound) {
		t.Errorf("device after logout: %v", err)
	}
	if _, err := a.Authenticate(ctx, two.AccessToken); err != nil {
		t.Errorf("other device logged out: %v", err)
	}
	if err := a.Logout(ctx, one.AccessToken); !errors.Is(err, accounts.ErrUnknownAccessToken) {
		t.Errorf("second logout: %v", err)
	}
	if err := a.LogoutAll(ctx, alice); err != nil {
		t.Fatal(err)
	}
	wantUnknownToken(t, a, two.AccessToken, "logout all")
	wantUnknownToken(t, a, three.AccessToken, "logout all")
	if devs, _ := a.Devices(ctx, alice); len(devs) != 0 {
		t.Errorf("devices after logout all: %+v", devs)
	}
	slices.Sort(h.deleted)
	if want := []string{alice + "/ONE", alice + "/THREE", alice + "/TWO"}; !slices.Equal(h.deleted, want) {
		t.Errorf("OnDeviceDeleted calls %v, want %v", h.deleted, want)
	}
}

func TestDeviceManagement(t *testing.T) {
	a, _, h := newHooked(t)
	alice := mustUser(t, a, "alice", "pw")
	bob := mustUser(t, a, "bob", "pw")
	mustLogin(t, a, alice, "pw", accounts.NewDevice{ID: "A1"})
	mustLogin(t, a, alice, "pw", accounts.NewDevice{ID: "A2"})
	b := mustLogin(t, a, bob, "pw", accounts.NewDevice{ID: "A1"})

	if err := a.SetDeviceDisplayName(ctx, alice, "A1", "laptop"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetDeviceDisplayName(ctx, alice, "A1", "laptop"); err != nil {
		t.Fatal(err)
	}
	if d, _ := a.Device(ctx, alice, "A1"); d.DisplayName != "laptop" {
		t.Errorf("renamed device %+v", d)
	}
	if d, _ := a.Device(ctx, bob, "A1"); d.DisplayName != "" {
		t.Errorf("bob's device renamed too: %+v", d)
	}
	if want := []string{alice + "/A1"}; !slices.Equal(h.updated, want) {
		t.Errorf("OnDeviceUpdated %v, want %v (once: the second rename changed nothing)", h.updated, want)
	}
	if err := a.SetDeviceDisplayName(ctx, alice, "NOPE", "x"); !errors.Is(err, accounts.ErrDeviceNotFound) {
		t.Errorf("rename unknown: %v", err)
	}
	if err := a.SetDeviceDisplayName(ctx, alice, "A1", strings.Repeat("x", 101)); !errors.Is(err, accounts.ErrDeviceNameTooLong) {
		t.Errorf("rename too long: %v", err)
	}
	if _, err := a.Device(ctx, alice, ""); !errors.Is(err, accounts.ErrDeviceNotFound) {
		t.Errorf("empty device ID: %v", err)
	}

	if err := a.DeleteDevices(ctx, alice, []string{"A1", "GONE", "A1"}); err != nil {
		t.Fatal(err)
	}
	devs, _ := a.Devices(ctx, alice)
	if len(devs) != 1 || devs[0].ID != "A2" {
		t.Errorf("after delete: %+v", devs)
	}
	if _, err := a.Authenticate(ctx, b.AccessToken); err != nil {
		t.Errorf("bob's device with the same ID went too: %v", err)
	}
	if want := []string{alice + "/A1"}; !slices.Equal(h.deleted, want) {
		t.Errorf("OnDeviceDeleted %v, want %v", h.deleted, want)
	}
	if _, err := a.Devices(ctx, "@x:elsewhere"); !errors.Is(err, accounts.ErrUserNotFound) {
		t.Errorf("remote user's devices: %v", err)
	}
}

func TestLastSeen(t *testing.T) {
	a, c, _ := newHooked(t)
	alice := mustUser(t, a, "alice", "pw")
	l := mustLogin(t, a, alice, "pw", accounts.NewDevice{ID: "D", IP: "192.0.2.1"})
	start := c.t.UnixMilli()

	ipCtx := accounts.WithClientIP(ctx, "198.51.100.7")
	c.t = c.t.Add(time.Minute)
	if _, err := a.Authenticate(ipCtx, l.AccessToken); err != nil {
		t.Fatal(err)
	}
	if d, _ := a.Device(ctx, alice, "D"); d.LastSeenTS != start || d.LastSeenIP != "192.0.2.1" {
		t.Errorf("recorded within the interval: %+v", d)
	}
	c.t = c.t.Add(accounts.LastSeenInterval)
	if _, err := a.Authenticate(ipCtx, l.AccessToken); err != nil {
		t.Fatal(err)
	}
	if d, _ := a.Device(ctx, alice, "D"); d.LastSeenTS != c.t.UnixMilli() || d.LastSeenIP != "198.51.100.7" {
		t.Errorf("not recorded after the interval: %+v", d)
	}
	if got := accounts.ClientIP(ipCtx); got != "198.51.100.7" {
		t.Errorf("ClientIP = %q", got)
	}
	if got := accounts.ClientIP(ctx); got != "" {
		t.Errorf("ClientIP(no value) = %q", got)
	}
}

// TestAuthenticateConcurrentLogout checks that a lookup racing a logout
// never leaves the revoked token cached.
func TestAuthenticateConcurrentLogout(t *testing.T) {
	a, _, _ := newHooked(t)
	alice := mustUser(t, a, "alice", "pw")
	for i := 0; i < 20; i++ {
		l := mustLogin(t, a, alice, "pw", accounts.NewDevice{})
		var wg sync.WaitGroup
		for j := 0; j < 4; j++ {
			wg.Add(1)
			go func() { defer wg.Done(); a.Authenticate(ctx, l.AccessToken) }()
		}
		if err := a.Logout(ctx, l.AccessToken); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		wantUnknownToken(t, a, l.AccessToken, "after racing logout")
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	a, err := accounts.New(accounts.Config{ServerName: "example.org", Store: memory.New(), Now: time.Now, Rand: rand.NewChaCha8([32]byte{}), BcryptCost: 4})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.CreateUser(ctx, accounts.NewUser{Localpart: "alice", Password: "pw"}); err != nil {
		b.Fatal(err)
	}
	l, err := a.Login(ctx, "@alice:example.org", "pw", accounts.NewDevice{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, l.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}
