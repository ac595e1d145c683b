package accounts_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"hearth/core/accounts"
	"hearth/persist/memory"
)

var ctx = context.Background()

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newAccounts(t *testing.T) (*accounts.Accounts, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	a, err := accounts.New(accounts.Config{
		ServerName: "example.org",
		Store:      memory.New(),
		Now:        c.now,
		Rand:       rand.NewChaCha8([32]byte{42}),
		BcryptCost: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

func TestNewConfig(t *testing.T) {
	good := accounts.Config{ServerName: "s", Store: memory.New(), Now: time.Now, Rand: rand.NewChaCha8([32]byte{})}
	tests := []struct {
		name   string
		change func(*accounts.Config)
		ok     bool
	}{
		{"complete", func(*accounts.Config) {}, true},
		{"no server name", func(c *accounts.Config) { c.ServerName = "" }, false},
		{"no store", func(c *accounts.Config) { c.Store = nil }, false},
		{"no clock", func(c *accounts.Config) { c.Now = nil }, false},
		{"no rand", func(c *accounts.Config) { c.Rand = nil }, false},
		{"cost too low", func(c *accounts.Config) { c.BcryptCost = 3 }, false},
		{"cost too high", func(c *accounts.Config) { c.BcryptCost = 32 }, false},
		{"negative UIA lifetime", func(c *accounts.Config) { c.UIASessionLifetime = -time.Second }, false},
		{"UIA lifetime", func(c *accounts.Config) { c.UIASessionLifetime = time.Minute }, true},
	}
	for _, tt := range tests {
		cfg := good
		tt.change(&cfg)
		_, err := accounts.New(cfg)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestValidateLocalpart(t *testing.T) {
	tests := []struct {
		localpart string
		ok        bool
	}{
		{"alice", true},
		{"a.b_c=d-e/f+g", true},
		{"0123456789", true},
		{"", false},
		{"Alice", false},
		{"al ice", false},
		{"al:ice", false},
		{"al@ice", false},
		{"älice", false},
		{strings.Repeat("a", accounts.MaxUserIDLength-len("@:example.org")), true},
		{strings.Repeat("a", accounts.MaxUserIDLength-len("@:example.org")+1), false},
	}
	for _, tt := range tests {
		err := accounts.ValidateLocalpart(tt.localpart, "example.org")
		if (err == nil) != tt.ok {
			t.Errorf("ValidateLocalpart(%q) = %v, want ok=%v", tt.localpart, err, tt.ok)
		}
		if err != nil && !errors.Is(err, accounts.ErrInvalidLocalpart) {
			t.Errorf("ValidateLocalpart(%q) = %v, not ErrInvalidLocalpart", tt.localpart, err)
		}
	}
}

func TestSplitUserID(t *testing.T) {
	tests := []struct {
		id, local, server string
		ok                bool
	}{
		{"@alice:example.org", "alice", "example.org", true},
		{"@alice:example.org:8448", "alice", "example.org:8448", true},
		{"alice:example.org", "", "", false},
		{"@alice", "", "", false},
		{"@:example.org", "", "", false},
		{"@alice:", "", "", false},
	}
	for _, tt := range tests {
		l, s, err := accounts.SplitUserID(tt.id)
		if (err == nil) != tt.ok || l != tt.local || s != tt.server {
			t.Errorf("SplitUserID(%q) = %q, %q, %v", tt.id, l, s, err)
		}
	}
}

func TestCreateUser(t *testing.T) {
	a, c := newAccounts(t)
	u, err := a.CreateUser(ctx, accounts.NewUser{Localpart: "alice", Password: "secret", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "@alice:example.org" || !u.Admin || u.CreatedTS != c.t.UnixMilli() || !strings.HasPrefix(u.PasswordHash, "$2a$04$") {
		t.Errorf("created %+v", u)
	}
	got, err := a.User(ctx, "@alice:example.org")
	if err != nil || got != u {
		t.Errorf("User = %+v, %v; want %+v", got, err, u)
	}
	if _, err := a.CheckPassword(ctx, "@alice:example.org", "secret"); err != nil {
		t.Errorf("CheckPassword(right) = %v", err)
	}
	if _, err := a.CheckPassword(ctx, "@alice:example.org", "Secret"); !errors.Is(err, accounts.ErrWrongPassword) {
		t.Errorf("CheckPassword(wrong) = %v", err)
	}
	for _, id := range []string{"@bob:example.org", "@alice:other.org", "alice"} {
		if _, err := a.User(ctx, id); !errors.Is(err, accounts.ErrUserNotFound) {
			t.Errorf("User(%q) = %v, want ErrUserNotFound", id, err)
		}
	}
}

func TestCreateUserErrors(t *testing.T) {
	a, _ := newAccounts(t)
	if _, err := a.CreateUser(ctx, accounts.NewUser{Localpart: "taken", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		user accounts.NewUser
		want error
	}{
		{"taken", accounts.NewUser{Localpart: "taken", Password: "pw"}, accounts.ErrUserExists},
		{"upper case", accounts.NewUser{Localpart: "Bob", Password: "pw"}, accounts.ErrInvalidLocalpart},
		{"empty localpart", accounts.NewUser{Password: "pw"}, accounts.ErrInvalidLocalpart},
		{"empty password", accounts.NewUser{Localpart: "bob"}, accounts.ErrEmptyPassword},
		{"long password", accounts.NewUser{Localpart: "bob", Password: strings.Repeat("p", 73)}, accounts.ErrPasswordTooLong},
	}
	for _, tt := range tests {
		if _, err := a.CreateUser(ctx, tt.user); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func intp(n int) *int       { return &n }
func int64p(n int64) *int64 { return &n }

func TestTokens(t *testing.T) {
	a, c := newAccounts(t)
	gen, err := a.CreateToken(ctx, accounts.NewToken{})
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.Token) != accounts.GeneratedTokenLength || !accounts.ValidToken(gen.Token) || gen.UsesAllowed != nil || gen.ExpiryTime != nil {
		t.Errorf("generated token %+v", gen)
	}
	short, err := a.CreateToken(ctx, accounts.NewToken{Length: 5})
	if err != nil || len(short.Token) != 5 {
		t.Errorf("length 5: %+v, %v", short, err)
	}
	twice, err := a.CreateToken(ctx, accounts.NewToken{Token: "twice", UsesAllowed: intp(2)})
	if err != nil {
		t.Fatal(err)
	}
	expiry := c.t.Add(time.Hour).UnixMilli()
	if _, err := a.CreateToken(ctx, accounts.NewToken{Token: "hour", ExpiryTime: int64p(expiry)}); err != nil {
		t.Fatal(err)
	}

	for i := 0; i < 2; i++ {
		if ok, err := a.TokenValid(ctx, "twice"); !ok || err != nil {
			t.Fatalf("use %d: TokenValid = %v, %v", i, ok, err)
		}
		got, err := a.UseToken(ctx, "twice")
		if err != nil || got.Completed != i+1 {
			t.Fatalf("use %d: %+v, %v", i, got, err)
		}
	}
	if _, err := a.UseToken(ctx, "twice"); !errors.Is(err, accounts.ErrTokenUsedUp) {
		t.Errorf("third use: %v", err)
	}
	if ok, _ := a.TokenValid(ctx, "twice"); ok {
		t.Error("used-up token valid")
	}

	if _, err := a.UseToken(ctx, "hour"); err != nil {
		t.Errorf("unexpired token: %v", err)
	}
	c.t = c.t.Add(time.Hour)
	if _, err := a.UseToken(ctx, "hour"); !errors.Is(err, accounts.ErrTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
	if ok, _ := a.TokenValid(ctx, "hour"); ok {
		t.Error("expired token valid")
	}
	if ok, err := a.TokenValid(ctx, "missing"); ok || err != nil {
		t.Errorf("missing token: %v, %v", ok, err)
	}

	all, err := a.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tok := range all {
		names = append(names, tok.Token)
	}
	want := []string{gen.Token, short.Token, "hour", "twice"}
	if len(names) != len(want) {
		t.Fatalf("Tokens = %v, want %d tokens", names, len(want))
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("Tokens not in order: %v", names)
		}
	}
	if got, err := a.Token(ctx, "twice"); err != nil || got.Completed != 2 || *got.UsesAllowed != 2 {
		t.Errorf("Token(twice) = %+v, %v (created %+v)", got, err, twice)
	}
	if err := a.DeleteToken(ctx, "twice"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Token(ctx, "twice"); !errors.Is(err, accounts.ErrTokenNotFound) {
		t.Errorf("deleted token: %v", err)
	}
	if err := a.DeleteToken(ctx, "twice"); !errors.Is(err, accounts.ErrTokenNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
}

func TestCreateTokenErrors(t *testing.T) {
	a, c := newAccounts(t)
	if _, err := a.CreateToken(ctx, accounts.NewToken{Token: "dup"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tok  accounts.NewToken
		want error
	}{
		{"duplicate", accounts.NewToken{Token: "dup"}, accounts.ErrTokenExists},
		{"bad character", accounts.NewToken{Token: "a b"}, accounts.ErrTokenInvalid},
		{"too long", accounts.NewToken{Token: strings.Repeat("t", accounts.MaxTokenLength+1)}, accounts.ErrTokenInvalid},
		{"negative uses", accounts.NewToken{UsesAllowed: intp(-1)}, accounts.ErrBadUses},
		{"expired", accounts.NewToken{ExpiryTime: int64p(c.t.UnixMilli())}, accounts.ErrExpiryInPast},
		{"length zero after default", accounts.NewToken{Length: -1}, accounts.ErrBadLength},
		{"length too big", accounts.NewToken{Length: accounts.MaxTokenLength + 1}, accounts.ErrBadLength},
	}
	for _, tt := range tests {
		if _, err := a.CreateToken(ctx, tt.tok); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := a.UseToken(ctx, "no such"); !errors.Is(err, accounts.ErrTokenNotFound) {
		t.Errorf("UseToken(malformed) = %v", err)
	}
}

func TestZeroUsesToken(t *testing.T) {
	a, _ := newAccounts(t)
	if _, err := a.CreateToken(ctx, accounts.NewToken{Token: "none", UsesAllowed: intp(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UseToken(ctx, "none"); !errors.Is(err, accounts.ErrTokenUsedUp) {
		t.Errorf("UseToken = %v, want ErrTokenUsedUp", err)
	}
}
