package keys

import (
	"fmt"
	"strings"
	"testing"
)

func TestDeviceSigningUpload(t *testing.T) {
	s := newServer(t)
	master, mk := crossKey(t, alice, "master", 10)
	ssk, _ := crossKey(t, alice, "self_signing", 11, mk)
	usk, _ := crossKey(t, alice, "user_signing", 12, mk)
	unsignedSSK, _ := crossKey(t, alice, "self_signing", 11)
	bobMaster, _ := crossKey(t, bob, "master", 20)
	wrongUsage, _ := crossKey(t, alice, "self_signing", 10)
	deviceIDKey := fmt.Sprintf(`{"user_id":%q,"usage":["master"],"keys":{"ed25519:A1":%q}}`, alice, pub(key(t, 1, "A1")))

	s.expectErrors([]errorCase{
		{"not JSON", "POST", "/keys/device_signing/upload", "a1", `{`, 400, "M_NOT_JSON"},
		{"guest", "POST", "/keys/device_signing/upload", "guest", `{}`, 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{"another user's key", "POST", "/keys/device_signing/upload", "a1", `{"master_key": ` + bobMaster + `}`, 400, "M_INVALID_PARAM"},
		{"wrong usage", "POST", "/keys/device_signing/upload", "a1", `{"master_key": ` + wrongUsage + `}`, 400, "M_INVALID_PARAM"},
		{"no master key", "POST", "/keys/device_signing/upload", "a1", `{"self_signing_key": ` + ssk + `}`, 400, "M_MISSING_PARAM"},
		{"unsigned self-signing key", "POST", "/keys/device_signing/upload", "a1",
			`{"master_key": ` + master + `, "self_signing_key": ` + unsignedSSK + `}`, 400, "M_INVALID_SIGNATURE"},
		{"key ID is a device ID", "POST", "/keys/device_signing/upload", "a1", `{"master_key": ` + deviceIDKey + `}`, 403, "M_FORBIDDEN"},
		{"two keys", "POST", "/keys/device_signing/upload", "a1",
			`{"master_key": {"user_id":"@alice:hs","usage":["master"],"keys":{"ed25519:a":"x","ed25519:b":"y"}}}`, 400, "M_INVALID_PARAM"},
	})
	if out := s.ok("POST", "/keys/query", "a1", `{"device_keys": {"@alice:hs": []}}`); len(out["master_keys"].(map[string]any)) != 0 {
		t.Fatalf("a refused upload stored keys: %v", out)
	}

	// The first upload needs no authentication, nor does a retry of it.
	all := fmt.Sprintf(`{"master_key": %s, "self_signing_key": %s, "user_signing_key": %s}`, master, ssk, usk)
	s.ok("POST", "/keys/device_signing/upload", "a1", all)
	s.ok("POST", "/keys/device_signing/upload", "a2", all)

	if s.uia.calls != 0 {
		t.Errorf("the first upload asked for authentication")
	}

	// Replacing them does.
	master2, mk2 := crossKey(t, alice, "master", 30)
	ssk2, _ := crossKey(t, alice, "self_signing", 31, mk2)
	replace := fmt.Sprintf(`{"master_key": %s, "self_signing_key": %s`, master2, ssk2)
	status, out := s.do("POST", "/keys/device_signing/upload", "a1", replace+`}`)
	if status != 401 || out["session"] != "S" || out["flows"] == nil {
		t.Fatalf("replacing without auth: %d %v", status, out)
	}
	status, out = s.do("POST", "/keys/device_signing/upload", "a1", replace+`, "auth": {"type":"m.login.password","password":"nope","session":"S"}}`)
	if status != 401 || out["errcode"] != "M_FORBIDDEN" {
		t.Errorf("wrong password: %d %v", status, out)
	}
	if out := s.ok("POST", "/keys/query", "a1", `{"device_keys": {"@alice:hs": []}}`); !strings.Contains(fmt.Sprint(out["master_keys"]), pub(mk)) {
		t.Fatalf("the keys changed without authentication: %v", out["master_keys"])
	}
	pos := s.e2ee.DeviceKeys().Position()
	s.ok("POST", "/keys/device_signing/upload", "a1", replace+`, "auth": {"type":"m.login.password","identifier":{"type":"m.id.user","user":"@alice:hs"},"password":"secret","session":"S"}}`)
	changed, _, _ := s.e2ee.DeviceKeys().ListChanges(t.Context(), bob, pos, s.e2ee.DeviceKeys().Position())
	if fmt.Sprint(changed) != "[@alice:hs]" {
		t.Errorf("the new keys are no device list change for bob: %v", changed)
	}

	// Alice sees her user-signing key; bob sees her master and
	// self-signing keys only.
	mine := s.ok("POST", "/keys/query", "a1", `{"device_keys": {"@alice:hs": []}}`)
	theirs := s.ok("POST", "/keys/query", "b1", `{"device_keys": {"@alice:hs": []}}`)
	for _, tc := range []struct {
		out            map[string]any
		field, contain string
	}{
		{mine, "master_keys", pub(mk2)},
		{mine, "self_signing_keys", `self_signing`},
		{mine, "user_signing_keys", `user_signing`},
		{theirs, "master_keys", pub(mk2)},
		{theirs, "self_signing_keys", `self_signing`},
	} {
		if got := fmt.Sprint(path(tc.out, tc.field, alice)); !strings.Contains(got, tc.contain) {
			t.Errorf("%s = %s, want it to contain %s", tc.field, got, tc.contain)
		}
	}
	if len(theirs["user_signing_keys"].(map[string]any)) != 0 {
		t.Errorf("bob sees alice's user-signing key: %v", theirs["user_signing_keys"])
	}
}

func TestSignaturesUpload(t *testing.T) {
	s := newServer(t)
	a1, a1Key := deviceKeys(t, alice, "A1", 1)
	a2, _ := deviceKeys(t, alice, "A2", 2)
	s.ok("POST", "/keys/upload", "a1", `{"device_keys": `+a1+`}`)
	s.ok("POST", "/keys/upload", "a2", `{"device_keys": `+a2+`}`)
	master, mk := crossKey(t, alice, "master", 10)
	ssk, sk := crossKey(t, alice, "self_signing", 11, mk)
	usk, uk := crossKey(t, alice, "user_signing", 12, mk)
	s.ok("POST", "/keys/device_signing/upload", "a1", fmt.Sprintf(`{"master_key": %s, "self_signing_key": %s, "user_signing_key": %s}`, master, ssk, usk))
	bobMaster, bmk := crossKey(t, bob, "master", 20)
	s.ok("POST", "/keys/device_signing/upload", "b1", `{"master_key": `+bobMaster+`}`)

	before := s.e2ee.DeviceKeys().Position()
	a2Forged := strings.Replace(a2, `"curve2"`, `"forged"`, 1)
	out := s.ok("POST", "/keys/signatures/upload", "a1", fmt.Sprintf(`{
		"@alice:hs": {"A1": %s, "%s": %s, "A2": %s, "NOPE": {}},
		"@bob:hs": {"%s": %s, "%s": %s}
	}`,
		sign(t, a1, alice, sk),                 // own device, by the self-signing key
		pub(mk), sign(t, master, alice, a1Key), // own master key, by a device
		sign(t, a2Forged, alice, sk),            // not the stored key
		pub(bmk), sign(t, bobMaster, alice, uk), // bob's master key, by the user-signing key
		"unknown", `{}`,
	))
	failures := out["failures"].(map[string]any)
	for _, tc := range []struct{ user, key, code string }{
		{alice, "A2", "M_INVALID_PARAM"},
		{alice, "NOPE", "M_NOT_FOUND"},
		{bob, "unknown", "M_NOT_FOUND"},
	} {
		if c := path(failures, tc.user, tc.key, "errcode"); c != tc.code {
			t.Errorf("failure for %s %s = %v, want %s", tc.user, tc.key, c, tc.code)
		}
	}
	if n := len(failures[alice].(map[string]any)) + len(failures[bob].(map[string]any)); n != 3 {
		t.Errorf("failures: %v", failures)
	}

	// A signature by the wrong key does not verify.
	out = s.ok("POST", "/keys/signatures/upload", "a2", `{"@alice:hs": {"A2": `+sign(t, a2, alice, key(t, 99, pub(sk)))+`}}`)
	if c := path(out, "failures", alice, "A2", "errcode"); c != "M_INVALID_SIGNATURE" {
		t.Errorf("forged signature: %v", out)
	}

	// Bob and alice see the self-signing key's signature of A1 and A1's of
	// the master key; only alice sees her signature of bob's master key.
	sskSig := "ed25519:" + pub(sk)
	for _, tok := range []string{"a1", "b1"} {
		q := s.ok("POST", "/keys/query", tok, `{"device_keys": {"@alice:hs": [], "@bob:hs": []}}`)
		if path(q, "device_keys", alice, "A1", "signatures", alice, sskSig) == nil {
			t.Errorf("%s: A1 lacks the self-signing signature: %v", tok, path(q, "device_keys", alice, "A1"))
		}
		if path(q, "master_keys", alice, "signatures", alice, "ed25519:A1") == nil {
			t.Errorf("%s: the master key lacks A1's signature: %v", tok, path(q, "master_keys", alice))
		}
		aliceSig := path(q, "master_keys", bob, "signatures", alice)
		if (tok == "a1") != (aliceSig != nil) {
			t.Errorf("%s: alice's signature of bob's master key: %v", tok, aliceSig)
		}
	}
	changed, _, _ := s.e2ee.DeviceKeys().ListChanges(t.Context(), bob, before, s.e2ee.DeviceKeys().Position())
	if fmt.Sprint(changed) != "[@alice:hs]" {
		t.Errorf("signatures are no device list change: %v", changed)
	}

	// A deleted device's signature of the master key goes with it.
	if err := s.e2ee.DeleteDevice(t.Context(), alice, "A1"); err != nil {
		t.Fatal(err)
	}
	q := s.ok("POST", "/keys/query", "b1", `{"device_keys": {"@alice:hs": []}}`)
	if sig := path(q, "master_keys", alice, "signatures", alice, "ed25519:A1"); sig != nil {
		t.Errorf("deleted A1's signature of the master key is still served")
	}

	// Without a self-signing key there is nothing to sign with.
	b1, _ := deviceKeys(t, bob, "B1", 5)
	s.ok("POST", "/keys/upload", "b1", `{"device_keys": `+b1+`}`)
	out = s.ok("POST", "/keys/signatures/upload", "b1", `{"@bob:hs": {"B1": `+b1+`}}`)
	if c := path(out, "failures", bob, "B1", "errcode"); c != "M_MISSING_PARAM" {
		t.Errorf("signing without a self-signing key: %v", out)
	}

	s.expectErrors([]errorCase{
		{"not JSON", "POST", "/keys/signatures/upload", "a1", `{`, 400, "M_NOT_JSON"},
		{"wrong shape", "POST", "/keys/signatures/upload", "a1", `{"@alice:hs": []}`, 400, "M_BAD_JSON"},
		{"guest", "POST", "/keys/signatures/upload", "guest", `{}`, 403, "M_GUEST_ACCESS_FORBIDDEN"},
	})
}
