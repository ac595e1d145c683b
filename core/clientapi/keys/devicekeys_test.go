package keys

import (
	"fmt"
	"testing"
)

func TestUpload(t *testing.T) {
	s := newServer(t)
	dk, _ := deviceKeys(t, alice, "A1", 1)
	out := s.ok("POST", "/keys/upload", "a1", fmt.Sprintf(`{
		"device_keys": %s,
		"one_time_keys": {"signed_curve25519:k1": {"key": "one"}, "signed_curve25519:k2": {"key": "two"}},
		"fallback_keys": {"signed_curve25519:f1": {"key": "fb", "fallback": true}}
	}`, dk))
	if n := path(out, "one_time_key_counts", "signed_curve25519"); n != 2.0 {
		t.Errorf("counts after upload: %v", out)
	}
	// The same key again is fine; an empty upload reports the counts.
	s.ok("POST", "/keys/upload", "a1", `{"one_time_keys": {"signed_curve25519:k1": {"key": "one"}}}`)
	if n := path(s.ok("POST", "/keys/upload", "a1", `{}`), "one_time_key_counts", "signed_curve25519"); n != 2.0 {
		t.Errorf("counts: %v", n)
	}

	bobKeys, _ := deviceKeys(t, bob, "B1", 2)
	otherDevice, _ := deviceKeys(t, alice, "A2", 3)
	s.expectErrors([]errorCase{
		{"no token", "POST", "/keys/upload", "", `{}`, 401, "M_MISSING_TOKEN"},
		{"not JSON", "POST", "/keys/upload", "a1", `{"device_keys":`, 400, "M_NOT_JSON"},
		{"wrong shape", "POST", "/keys/upload", "a1", `{"one_time_keys": 3}`, 400, "M_BAD_JSON"},
		{"another user's keys", "POST", "/keys/upload", "a1", `{"device_keys": ` + bobKeys + `}`, 400, "M_BAD_JSON"},
		{"another device's keys", "POST", "/keys/upload", "a1", `{"device_keys": ` + otherDevice + `}`, 400, "M_BAD_JSON"},
		{"duplicate key ID, other content", "POST", "/keys/upload", "a1",
			`{"one_time_keys": {"signed_curve25519:k3": {"key": "three"}, "signed_curve25519:k1": {"key": "changed"}}}`, 400, "M_INVALID_PARAM"},
		{"bad key name", "POST", "/keys/upload", "a1", `{"one_time_keys": {"k1": {"key": "x"}}}`, 400, "M_INVALID_PARAM"},
	})
	// The refused request stored none of its keys.
	if n := path(s.ok("POST", "/keys/upload", "a1", `{}`), "one_time_key_counts", "signed_curve25519"); n != 2.0 {
		t.Errorf("counts after refused uploads: %v", n)
	}
}

func TestQuery(t *testing.T) {
	s := newServer(t)
	a1, _ := deviceKeys(t, alice, "A1", 1)
	a2, _ := deviceKeys(t, alice, "A2", 2)
	s.ok("POST", "/keys/upload", "a1", `{"device_keys": `+a1+`}`)
	s.ok("POST", "/keys/upload", "a2", `{"device_keys": `+a2+`}`)

	out := s.ok("POST", "/keys/query", "b1", `{"device_keys": {"@alice:hs": [], "@carol:hs": [], "@x:elsewhere": []}}`)
	if name := path(out, "device_keys", alice, "A1", "unsigned", "device_display_name"); name != "Alice's phone" {
		t.Errorf("display name = %v", name)
	}
	if id := path(out, "device_keys", alice, "A2", "device_id"); id != "A2" {
		t.Errorf("A2 = %v", path(out, "device_keys", alice, "A2"))
	}
	if sig := path(out, "device_keys", alice, "A1", "signatures", alice, "ed25519:A1"); sig == nil {
		t.Error("the device's self-signature was dropped")
	}
	if c := path(out, "device_keys", carol); c == nil || len(c.(map[string]any)) != 0 {
		t.Errorf("carol, who has no keys: %v", c)
	}
	if f := path(out, "failures", "elsewhere"); f == nil {
		t.Errorf("the unreachable server is no failure: %v", out["failures"])
	}
	for _, field := range []string{"master_keys", "self_signing_keys", "user_signing_keys"} {
		if _, ok := out[field].(map[string]any); !ok {
			t.Errorf("%s missing: %v", field, out)
		}
	}

	// One device only.
	out = s.ok("POST", "/keys/query", "b1", `{"device_keys": {"@alice:hs": ["A2", "NOPE"]}}`)
	if devs := path(out, "device_keys", alice).(map[string]any); len(devs) != 1 || devs["A2"] == nil {
		t.Errorf("query for A2: %v", devs)
	}

	s.expectErrors([]errorCase{
		{"not JSON", "POST", "/keys/query", "b1", `nope`, 400, "M_NOT_JSON"},
		{"no device_keys", "POST", "/keys/query", "b1", `{}`, 400, "M_MISSING_PARAM"},
		{"device_keys of the wrong shape", "POST", "/keys/query", "b1", `{"device_keys": {"@alice:hs": "A1"}}`, 400, "M_BAD_JSON"},
	})
}

func TestClaim(t *testing.T) {
	s := newServer(t)
	s.ok("POST", "/keys/upload", "a1", `{
		"one_time_keys": {"signed_curve25519:k1": {"key": "one"}},
		"fallback_keys": {"signed_curve25519:f1": {"key": "fb", "fallback": true}}
	}`)
	body := `{"one_time_keys": {"@alice:hs": {"A1": "signed_curve25519", "A2": "signed_curve25519"}, "@x:elsewhere": {"X": "signed_curve25519"}}}`
	out := s.ok("POST", "/keys/claim", "b1", body)
	if k := path(out, "one_time_keys", alice, "A1", "signed_curve25519:k1", "key"); k != "one" {
		t.Errorf("first claim: %v", out)
	}
	if path(out, "one_time_keys", alice, "A2") != nil {
		t.Errorf("A2 has no keys but got one: %v", out)
	}
	if path(out, "failures", "elsewhere") == nil {
		t.Errorf("no failure for the other server: %v", out)
	}
	// Exhausted: the fallback key, again and again, reported used.
	for range 2 {
		out = s.ok("POST", "/keys/claim", "b1", body)
		if k := path(out, "one_time_keys", alice, "A1", "signed_curve25519:f1", "key"); k != "fb" {
			t.Errorf("claim when exhausted: %v", out)
		}
	}
	types, err := s.e2ee.DeviceKeys().UnusedFallbackKeyTypes(t.Context(), alice, "A1")
	if err != nil || len(types) != 0 {
		t.Errorf("used fallback key still listed unused: %v, %v", types, err)
	}
	// Nothing at all for an unknown algorithm.
	out = s.ok("POST", "/keys/claim", "b1", `{"one_time_keys": {"@alice:hs": {"A1": "other_alg"}}}`)
	if path(out, "one_time_keys", alice) != nil {
		t.Errorf("claim of another algorithm: %v", out)
	}
	s.expectErrors([]errorCase{
		{"not JSON", "POST", "/keys/claim", "b1", `{`, 400, "M_NOT_JSON"},
		{"no one_time_keys", "POST", "/keys/claim", "b1", `{}`, 400, "M_MISSING_PARAM"},
		{"wrong shape", "POST", "/keys/claim", "b1", `{"one_time_keys": {"@alice:hs": ["A1"]}}`, 400, "M_BAD_JSON"},
	})
}

func TestChanges(t *testing.T) {
	s := newServer(t)
	a1, _ := deviceKeys(t, alice, "A1", 1)
	c1, _ := deviceKeys(t, carol, "C1", 3)
	s.ok("POST", "/keys/upload", "a1", `{"device_keys": `+a1+`}`) // device list position 1
	s.ok("POST", "/keys/upload", "c1", `{"device_keys": `+c1+`}`) // 2: carol shares no room with bob

	out := s.ok("GET", "/keys/changes?from=s0_0_0_0_0_0_0&to=s9_1_1_2_0_0_0", "b1", "")
	if ch := fmt.Sprint(out["changed"]); ch != "[@alice:hs]" || fmt.Sprint(out["left"]) != "[]" {
		t.Errorf("changes for bob: %v", out)
	}
	out = s.ok("GET", "/keys/changes?from=s0_0_0_1_0_0_0", "b1", "")
	if ch := out["changed"].([]any); len(ch) != 0 {
		t.Errorf("changes after alice's: %v", out)
	}
	out = s.ok("GET", "/keys/changes?from=s0_0_0_0_0_0_0&to=s0_0_0_2_0_0_0", "c1", "")
	if ch := fmt.Sprint(out["changed"]); ch != "[@carol:hs]" {
		t.Errorf("changes for carol: %v", out)
	}
	s.expectErrors([]errorCase{
		{"no from", "GET", "/keys/changes?to=s1_1_1_1_1_1_1", "b1", "", 400, "M_MISSING_PARAM"},
		{"room token", "GET", "/keys/changes?from=t12", "b1", "", 400, "M_INVALID_PARAM"},
		{"short token", "GET", "/keys/changes?from=s1_2_3", "b1", "", 400, "M_INVALID_PARAM"},
		{"junk", "GET", "/keys/changes?from=s1_2_3_x_5_6_7", "b1", "", 400, "M_INVALID_PARAM"},
		{"bad to", "GET", "/keys/changes?from=s1_2_3_4_5_6_7&to=s-1_2_3_4_5_6_7", "b1", "", 400, "M_INVALID_PARAM"},
	})
}
