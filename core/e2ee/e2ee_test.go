package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"hearth/core/matrixerr"
)

var ctx = context.Background()

func otk(id, key string) (string, json.RawMessage) {
	return "signed_curve25519:" + id, json.RawMessage(fmt.Sprintf(`{"key":%q,"signatures":{}}`, key))
}

func otks(pairs ...string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i < len(pairs); i += 2 {
		k, v := otk(pairs[i], pairs[i+1])
		m[k] = v
	}
	return m
}

func TestUploadKeysAndCounts(t *testing.T) {
	e := newEnv(t, nil)
	counts, err := e.s.UploadKeys(ctx, alice, "A1", Upload{
		DeviceKeys:   deviceKeys(t, alice, "A1", 1),
		OneTimeKeys:  otks("k1", "a", "k2", "b"),
		FallbackKeys: map[string]json.RawMessage{"signed_curve25519:f1": json.RawMessage(`{"key":"f","fallback":true}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"signed_curve25519": 2}; !reflect.DeepEqual(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
	dk := e.s.DeviceKeys()
	if p := dk.Position(); p != 1 {
		t.Errorf("device list position = %d, want 1", p)
	}
	types, err := dk.UnusedFallbackKeyTypes(ctx, alice, "A1")
	if err != nil || !reflect.DeepEqual(types, []string{"signed_curve25519"}) {
		t.Errorf("unused fallback types = %v, %v", types, err)
	}

	// The same keys again change nothing, not even the device list.
	if _, err := e.s.UploadKeys(ctx, alice, "A1", Upload{DeviceKeys: deviceKeys(t, alice, "A1", 1), OneTimeKeys: otks("k1", "a")}); err != nil {
		t.Fatal(err)
	}
	if p := dk.Position(); p != 2 {
		t.Errorf("position = %d, want 2 (allocated, no change)", p)
	}
	if ch, _, _ := dk.ListChanges(ctx, alice, 1, 2); len(ch) != 0 {
		t.Errorf("an identical upload recorded a change: %v", ch)
	}

	// A different key under a used ID is refused, and nothing of the
	// request is stored.
	_, err = e.s.UploadKeys(ctx, alice, "A1", Upload{DeviceKeys: deviceKeys(t, alice, "A1", 9), OneTimeKeys: otks("k3", "c", "k1", "other")})
	if me := matrixerr.As(err); me.Status != 400 {
		t.Fatalf("duplicate key ID: %v, want 400", err)
	}
	counts, _ = dk.OneTimeKeyCounts(ctx, alice, "A1")
	if counts["signed_curve25519"] != 2 {
		t.Errorf("count after refused upload = %v, want 2", counts)
	}
	if ch, _, _ := dk.ListChanges(ctx, alice, 1, dk.Position()); len(ch) != 0 {
		t.Errorf("a refused upload recorded a change: %v", ch)
	}

	// A device that never uploaded reports zero.
	counts, _ = dk.OneTimeKeyCounts(ctx, alice, "A2")
	if !reflect.DeepEqual(counts, map[string]int{"signed_curve25519": 0}) {
		t.Errorf("empty counts = %v", counts)
	}
	if types, _ := dk.UnusedFallbackKeyTypes(ctx, alice, "A2"); types == nil || len(types) != 0 {
		t.Errorf("no fallback keys: %#v, want empty non-nil", types)
	}
}

func TestUploadKeysRejects(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name string
		up   Upload
		code string
	}{
		{"other user", Upload{DeviceKeys: deviceKeys(t, bob, "A1", 1)}, matrixerr.CodeBadJSON},
		{"other device", Upload{DeviceKeys: deviceKeys(t, alice, "A2", 1)}, matrixerr.CodeBadJSON},
		{"no keys", Upload{DeviceKeys: json.RawMessage(`{"user_id":"@alice:hs","device_id":"A1","algorithms":[],"signatures":{}}`)}, matrixerr.CodeBadJSON},
		{"not an object", Upload{DeviceKeys: json.RawMessage(`[1]`)}, matrixerr.CodeBadJSON},
		{"key name", Upload{OneTimeKeys: map[string]json.RawMessage{"nocolon": json.RawMessage(`{}`)}}, matrixerr.CodeInvalidParam},
		{"key value", Upload{OneTimeKeys: map[string]json.RawMessage{"a:b": json.RawMessage(`12`)}}, matrixerr.CodeBadJSON},
		{"two fallbacks", Upload{FallbackKeys: map[string]json.RawMessage{"a:1": json.RawMessage(`{}`), "a:2": json.RawMessage(`{}`)}}, matrixerr.CodeInvalidParam},
	} {
		_, err := e.s.UploadKeys(ctx, alice, "A1", tc.up)
		if me := matrixerr.As(err); me.Status != 400 || me.Code != tc.code {
			t.Errorf("%s: %v, want 400 %s", tc.name, err, tc.code)
		}
	}
}

func TestClaimOrderAndFallback(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.s.UploadKeys(ctx, alice, "A1", Upload{OneTimeKeys: otks("zz", "first")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UploadKeys(ctx, alice, "A1", Upload{
		OneTimeKeys:  otks("aa", "second"),
		FallbackKeys: map[string]json.RawMessage{"signed_curve25519:fb": json.RawMessage(`{"key":"fallback"}`)},
	}); err != nil {
		t.Fatal(err)
	}
	claim := func() map[string]json.RawMessage {
		t.Helper()
		res, err := e.s.ClaimKeys(ctx, map[string]map[string]string{alice: {"A1": "signed_curve25519", "A2": "signed_curve25519"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := res.OneTimeKeys[alice]["A2"]; ok {
			t.Error("a device without keys got one")
		}
		return res.OneTimeKeys[alice]["A1"]
	}
	// Upload order, not key ID order.
	for _, want := range []string{"zz", "aa", "fb", "fb"} {
		got := claim()
		for id, k := range got {
			if !strings.HasSuffix(id, ":"+want) {
				t.Errorf("claimed %s (%s), want %s", id, k, want)
			}
		}
		if len(got) != 1 {
			t.Errorf("claimed %v, want one key", got)
		}
	}
	dk := e.s.DeviceKeys()
	if types, _ := dk.UnusedFallbackKeyTypes(ctx, alice, "A1"); len(types) != 0 {
		t.Errorf("used fallback still unused: %v", types)
	}
	// A claimed key ID may be uploaded again; a new fallback key is unused.
	if _, err := e.s.UploadKeys(ctx, alice, "A1", Upload{
		OneTimeKeys:  otks("zz", "again"),
		FallbackKeys: map[string]json.RawMessage{"signed_curve25519:fb2": json.RawMessage(`{"key":"new"}`)},
	}); err != nil {
		t.Fatal(err)
	}
	if types, _ := dk.UnusedFallbackKeyTypes(ctx, alice, "A1"); len(types) != 1 {
		t.Errorf("new fallback not unused: %v", types)
	}
	if c, _ := dk.OneTimeKeyCounts(ctx, alice, "A1"); c["signed_curve25519"] != 1 {
		t.Errorf("counts = %v, want 1", c)
	}
}

func TestToDeviceInbox(t *testing.T) {
	e := newEnv(t, nil)
	td := e.s.ToDevice()
	send := func(txn string, msgs map[string]map[string]json.RawMessage) {
		t.Helper()
		if err := e.s.SendToDevice(ctx, bob, "B1", "m.test", txn, msgs); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		send(fmt.Sprint("t", i), map[string]map[string]json.RawMessage{alice: {"A1": json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}})
	}
	// A retry delivers nothing.
	send("t0", map[string]map[string]json.RawMessage{alice: {"A1": json.RawMessage(`{"n":0}`)}})
	// "*" reaches every device; unknown devices and users are skipped.
	send("star", map[string]map[string]json.RawMessage{
		alice:         {"*": json.RawMessage(`{"all":true}`), "A2": json.RawMessage(`{"own":true}`)},
		"@nobody:hs":  {"X": json.RawMessage(`{}`)},
		carol:         {"NOPE": json.RawMessage(`{}`)},
		"@far:remote": {"R": json.RawMessage(`{}`)},
	})
	if e.woken.count(alice) != 4 {
		t.Errorf("alice woken %d times, want 4", e.woken.count(alice))
	}
	if e.woken.count(carol) != 0 {
		t.Errorf("carol woken without a message")
	}
	to := td.Position()
	if to != 4 { // the retry took no position
		t.Fatalf("position %d, want 4", to)
	}

	msgs, last, err := td.Messages(ctx, alice, "A1", 0, to, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || last != 2 {
		t.Fatalf("first page: %d messages up to %d, want 2 up to 2", len(msgs), last)
	}
	if want := `{"sender":"@bob:hs","type":"m.test","content":{"n":0}}`; string(msgs[0]) != want {
		t.Errorf("message = %s, want %s", msgs[0], want)
	}
	msgs, last, _ = td.Messages(ctx, alice, "A1", last, to, 2)
	if len(msgs) != 2 || last != to || !strings.Contains(string(msgs[1]), `"all":true`) {
		t.Fatalf("second page: %s up to %d", msgs, last)
	}
	msgs, last, _ = td.Messages(ctx, alice, "A1", to, to, 2)
	if len(msgs) != 0 || last != to {
		t.Errorf("after everything: %s up to %d", msgs, last)
	}
	// Acknowledged messages are gone even for a client that goes back.
	if msgs, _, _ := td.Messages(ctx, alice, "A1", 0, to, 0); len(msgs) != 0 {
		t.Errorf("acknowledged messages kept: %s", msgs)
	}
	msgs, _, _ = td.Messages(ctx, alice, "A2", 0, to, 0)
	if len(msgs) != 1 || !strings.Contains(string(msgs[0]), `"own":true`) {
		t.Errorf("A2 got %s, want its own message", msgs)
	}

	// Deleting a device empties its inbox.
	if err := e.s.DeleteDevice(ctx, alice, "A2"); err != nil {
		t.Fatal(err)
	}
	if msgs, _, _ := td.Messages(ctx, alice, "A2", 0, to, 0); len(msgs) != 0 {
		t.Errorf("deleted device's inbox kept: %s", msgs)
	}

	// The position survives a restart although the inboxes are empty.
	if p := e.open(t, nil).ToDevice().Position(); p != to {
		t.Errorf("position after restart %d, want %d", p, to)
	}
}

func TestSendToDeviceRejects(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, typ, txn string
		msgs           map[string]map[string]json.RawMessage
	}{
		{"bad user", "m.x", "1", map[string]map[string]json.RawMessage{"alice": {"A1": json.RawMessage(`{}`)}}},
		{"not an object", "m.x", "1", map[string]map[string]json.RawMessage{alice: {"A1": json.RawMessage(`"s"`)}}},
		{"empty txn", "m.x", "", nil},
		{"long type", strings.Repeat("x", 300), "1", nil},
	} {
		if err := e.s.SendToDevice(ctx, bob, "B1", tc.typ, tc.txn, tc.msgs); matrixerr.As(err).Status != 400 {
			t.Errorf("%s: %v, want 400", tc.name, err)
		}
	}
	if p := e.s.ToDevice().Position(); p != 0 {
		t.Errorf("refused sends moved the stream to %d", p)
	}
}

func TestListChanges(t *testing.T) {
	e := newEnv(t, nil)
	dk := e.s.DeviceKeys()
	upload := func(user, device string, seed byte) {
		t.Helper()
		if _, err := e.s.UploadKeys(ctx, user, device, Upload{DeviceKeys: deviceKeys(t, user, device, seed)}); err != nil {
			t.Fatal(err)
		}
	}
	upload(bob, "B1", 2)   // 1
	upload(dave, "D1", 4)  // 2: shares no room with alice
	upload(carol, "C1", 3) // 3
	for _, tc := range []struct {
		user     string
		from, to uint64
		want     []string
	}{
		{alice, 0, 3, []string{bob, carol}},
		{alice, 1, 3, []string{carol}},
		{alice, 0, 1, []string{bob}},
		{alice, 3, 3, nil},
		{alice, 3, 1, nil},
		{bob, 0, 3, []string{bob}},
		{dave, 0, 3, []string{dave}},
		{alice, 0, 99, []string{bob, carol}}, // clamped to the watermark
	} {
		got, left, err := dk.ListChanges(ctx, tc.user, tc.from, tc.to)
		if err != nil || !reflect.DeepEqual(got, tc.want) || left != nil {
			t.Errorf("ListChanges(%s, %d, %d) = %v, %v, %v; want %v", tc.user, tc.from, tc.to, got, left, err, tc.want)
		}
	}
	// The change woke bob and everyone sharing a room with him.
	if e.woken.count(alice) != 2 || e.woken.count(bob) != 1 || e.woken.count(dave) != 1 {
		t.Errorf("woken: %v", e.woken.users)
	}

	// Many changes of users alice does not share a room with: the log is
	// longer than alice's room members, so each member is looked up.
	for i := range 40 {
		upload(dave, "D1", byte(10+i))
	}
	upload(bob, "B1", 99)
	got, _, err := dk.ListChanges(ctx, alice, 3, dk.Position())
	if err != nil || !reflect.DeepEqual(got, []string{bob}) {
		t.Errorf("long log: %v, %v; want [bob]", got, err)
	}
	got, _, _ = dk.ListChanges(ctx, alice, 3, dk.Position()-1)
	if len(got) != 0 {
		t.Errorf("long log without bob's change: %v", got)
	}

	// Deleting a device with keys is a change; one without is not.
	p := dk.Position()
	if err := e.s.DeleteDevice(ctx, alice, "A2"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteDevice(ctx, bob, "B1"); err != nil {
		t.Fatal(err)
	}
	got, _, _ = dk.ListChanges(ctx, alice, p, dk.Position())
	if !reflect.DeepEqual(got, []string{bob}) {
		t.Errorf("after deletions: %v, want [bob]", got)
	}
	res, _ := e.s.QueryKeys(ctx, alice, map[string][]string{bob: nil})
	if len(res.DeviceKeys[bob]) != 0 {
		t.Errorf("deleted device's keys still served: %v", res.DeviceKeys[bob])
	}
	if p := e.open(t, nil).DeviceKeys().Position(); p != dk.Position() {
		t.Errorf("device list position after restart %d, want %d", p, dk.Position())
	}
}

// fakeRemote answers for the server "remote".
type fakeRemote struct {
	fail bool
	sent []string
}

func (f *fakeRemote) QueryKeys(_ context.Context, server string, users map[string][]string) (RemoteKeys, error) {
	if f.fail {
		return RemoteKeys{}, errors.New("down")
	}
	return RemoteKeys{
		DeviceKeys: map[string]map[string]json.RawMessage{
			"@far:remote":   {"R": json.RawMessage(`{"device_id":"R"}`)},
			"@other:remote": {"O": json.RawMessage(`{}`)}, // not asked for
		},
		MasterKeys: map[string]json.RawMessage{"@far:remote": json.RawMessage(`{"usage":["master"]}`)},
	}, nil
}

func (f *fakeRemote) ClaimKeys(_ context.Context, server string, claims map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error) {
	if f.fail {
		return nil, errors.New("down")
	}
	return map[string]map[string]map[string]json.RawMessage{"@far:remote": {"R": {"signed_curve25519:x": json.RawMessage(`{}`)}}}, nil
}

func (f *fakeRemote) SendToDevice(_ context.Context, server, sender, typ, id string, msgs map[string]map[string]json.RawMessage) error {
	if f.fail {
		return errors.New("down")
	}
	f.sent = append(f.sent, server+" "+id+" "+mustJSONNoT(msgs))
	return nil
}

func mustJSONNoT(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRemote(t *testing.T) {
	// Without a Remote, other servers are failures.
	e := newEnv(t, nil)
	res, err := e.s.QueryKeys(ctx, alice, map[string][]string{"@far:remote": nil})
	if err != nil || res.Failures["remote"] == nil {
		t.Errorf("query without remote: %v, %v", res.Failures, err)
	}
	cl, err := e.s.ClaimKeys(ctx, map[string]map[string]string{"@far:remote": {"R": "signed_curve25519"}})
	if err != nil || cl.Failures["remote"] == nil {
		t.Errorf("claim without remote: %v, %v", cl.Failures, err)
	}

	r := &fakeRemote{}
	e = newEnv(t, r)
	res, err = e.s.QueryKeys(ctx, alice, map[string][]string{"@far:remote": nil})
	if err != nil || len(res.Failures) != 0 || res.DeviceKeys["@far:remote"]["R"] == nil || res.MasterKeys["@far:remote"] == nil {
		t.Errorf("query through remote: %+v, %v", res, err)
	}
	if _, ok := res.DeviceKeys["@other:remote"]; ok {
		t.Error("a user not asked for was passed on")
	}
	cl, _ = e.s.ClaimKeys(ctx, map[string]map[string]string{"@far:remote": {"R": "signed_curve25519"}})
	if cl.OneTimeKeys["@far:remote"]["R"] == nil {
		t.Errorf("claim through remote: %+v", cl)
	}
	msgs := map[string]map[string]json.RawMessage{"@far:remote": {"*": json.RawMessage(`{"a":1}`)}}
	for range 2 {
		if err := e.s.SendToDevice(ctx, alice, "A1", "m.x", "t1", msgs); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.sent) != 1 || !strings.HasPrefix(r.sent[0], "remote ") {
		t.Errorf("remote sends: %v, want one", r.sent)
	}
	r.fail = true
	if err := e.s.SendToDevice(ctx, alice, "A1", "m.x", "t2", msgs); err == nil {
		t.Error("a failed remote send succeeded")
	}
	res, _ = e.s.QueryKeys(ctx, alice, map[string][]string{"@far:remote": nil})
	if res.Failures["remote"] == nil {
		t.Error("a failed remote query is no failure")
	}
}

func TestNewChecksConfig(t *testing.T) {
	e := newEnv(t, nil)
	for _, cfg := range []Config{
		{},
		{Store: e.db},
		{Store: e.db, ServerName: "hs"},
		{Store: e.db, ServerName: "hs", Devices: fakeDevices{}},
	} {
		if _, err := New(ctx, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
