package e2ee

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"hearth/core/b64"
	"hearth/core/signing"
	"hearth/persist"
	"hearth/persist/memory"
)

// fakeDevices is the accounts layer: user ID to devices.
type fakeDevices map[string][]DeviceInfo

func (f fakeDevices) Devices(_ context.Context, user string) ([]DeviceInfo, error) {
	return f[user], nil
}

// fakeMembers says who shares a room: each inner list is one room.
type fakeMembers [][]string

func (f fakeMembers) SharedUsers(_ context.Context, user string) ([]string, error) {
	var out []string
	for _, room := range f {
		if slices.Contains(room, user) {
			out = append(out, room...)
		}
	}
	return out, nil
}

// woken records the users each Wake named.
type woken struct {
	mu    sync.Mutex
	users map[string]int
}

func (w *woken) wake(users ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range users {
		w.users[u]++
	}
}

func (w *woken) count(u string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.users[u]
}

type env struct {
	s     *Service
	db    persist.Store
	woken *woken
}

const (
	alice = "@alice:hs"
	bob   = "@bob:hs"
	carol = "@carol:hs"
	dave  = "@dave:hs"
)

func newEnv(t *testing.T, remote Remote) *env {
	t.Helper()
	db := memory.New()
	e := &env{db: db, woken: &woken{users: map[string]int{}}}
	e.s = e.open(t, remote)
	return e
}

func (e *env) open(t *testing.T, remote Remote) *Service {
	t.Helper()
	s, err := New(context.Background(), Config{
		Store:      e.db,
		ServerName: "hs",
		Devices: fakeDevices{
			alice: {{ID: "A1", DisplayName: "Alice's phone"}, {ID: "A2"}},
			bob:   {{ID: "B1", DisplayName: "Bob's laptop"}},
			carol: {{ID: "C1"}},
			dave:  {{ID: "D1"}},
		},
		Members: fakeMembers{{alice, bob}, {alice, carol}},
		Remote:  remote,
		Wake:    e.woken.wake,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ed25519Key makes a deterministic key whose ID is "ed25519:<id>".
func ed25519Key(t *testing.T, seed byte, id string) signing.Key {
	t.Helper()
	k, err := signing.KeyFromSeed("ed25519:"+id, bytesOf(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func bytesOf(b byte) []byte {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = b
	}
	return s
}

func pubOf(k signing.Key) string { return b64.Encode(k.Public()) }

// deviceKeys builds signed device keys for user's device.
func deviceKeys(t *testing.T, user, device string, seed byte) json.RawMessage {
	t.Helper()
	k := ed25519Key(t, seed, device)
	obj := fmt.Sprintf(`{"user_id":%q,"device_id":%q,"algorithms":["m.olm.v1.curve25519-aes-sha2","m.megolm.v1.aes-sha2"],"keys":{"curve25519:%s":"curve%d","ed25519:%s":%q}}`,
		user, device, device, seed, device, pubOf(k))
	signed, err := signing.SignJSON([]byte(obj), user, k)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}
