package keys

import (
	"fmt"
	"testing"
)

const authData = `{"public_key": "abc", "signatures": {}}`

func keyData(fmi, fc int, verified bool, tag string) string {
	return fmt.Sprintf(`{"first_message_index": %d, "forwarded_count": %d, "is_verified": %t, "session_data": {"ciphertext": %q}}`, fmi, fc, verified, tag)
}

func TestBackupVersions(t *testing.T) {
	s := newServer(t)
	s.expectErrors([]errorCase{
		{"no backup yet", "GET", "/room_keys/version", "a1", "", 404, "M_NOT_FOUND"},
		{"not JSON", "POST", "/room_keys/version", "a1", `{`, 400, "M_NOT_JSON"},
		{"no algorithm", "POST", "/room_keys/version", "a1", `{"auth_data": {}}`, 400, "M_MISSING_PARAM"},
		{"no auth_data", "POST", "/room_keys/version", "a1", `{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2"}`, 400, "M_MISSING_PARAM"},
		{"auth_data not an object", "POST", "/room_keys/version", "a1", `{"algorithm": "a", "auth_data": 3}`, 400, "M_BAD_JSON"},
		{"guest", "POST", "/room_keys/version", "guest", `{"algorithm": "a", "auth_data": {}}`, 403, "M_GUEST_ACCESS_FORBIDDEN"},
	})
	create := `{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": ` + authData + `}`
	if v := s.ok("POST", "/room_keys/version", "a1", create)["version"]; v != "1" {
		t.Fatalf("first version = %v", v)
	}
	out := s.ok("GET", "/room_keys/version", "a2", "")
	if out["version"] != "1" || out["count"] != 0.0 || out["etag"] == nil || path(out, "auth_data", "public_key") != "abc" ||
		out["algorithm"] != "m.megolm_backup.v1.curve25519-aes-sha2" {
		t.Errorf("current backup: %v", out)
	}
	if v := s.ok("POST", "/room_keys/version", "a1", create)["version"]; v != "2" {
		t.Fatalf("second version = %v", v)
	}
	if v := s.ok("GET", "/room_keys/version", "a1", "")["version"]; v != "2" {
		t.Errorf("current version = %v, want 2", v)
	}
	if v := s.ok("GET", "/room_keys/version/1", "a1", "")["version"]; v != "1" {
		t.Errorf("version 1 = %v", v)
	}
	// Backups are per user.
	s.expectErrors([]errorCase{{"bob's backup", "GET", "/room_keys/version", "b1", "", 404, "M_NOT_FOUND"}})

	s.ok("PUT", "/room_keys/version/2", "a1", `{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "new"}, "version": "2"}`)
	if k := path(s.ok("GET", "/room_keys/version/2", "a1", ""), "auth_data", "public_key"); k != "new" {
		t.Errorf("updated auth_data: %v", k)
	}
	s.expectErrors([]errorCase{
		{"unknown version", "GET", "/room_keys/version/7", "a1", "", 404, "M_NOT_FOUND"},
		{"not a version", "GET", "/room_keys/version/x", "a1", "", 404, "M_NOT_FOUND"},
		{"update unknown", "PUT", "/room_keys/version/7", "a1", `{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {}}`, 404, "M_NOT_FOUND"},
		{"update other algorithm", "PUT", "/room_keys/version/2", "a1", `{"algorithm": "other", "auth_data": {}}`, 400, "M_INVALID_PARAM"},
		{"update version mismatch", "PUT", "/room_keys/version/2", "a1", `{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {}, "version": "1"}`, 400, "M_INVALID_PARAM"},
		{"update not JSON", "PUT", "/room_keys/version/2", "a1", `x`, 400, "M_NOT_JSON"},
		{"delete never created", "DELETE", "/room_keys/version/3", "a1", "", 404, "M_NOT_FOUND"},
	})

	// Deleting the current version makes the previous one current again;
	// deleting it twice is fine.
	s.ok("DELETE", "/room_keys/version/2", "a1", "")
	s.ok("DELETE", "/room_keys/version/2", "a1", "")
	if v := s.ok("GET", "/room_keys/version", "a1", "")["version"]; v != "1" {
		t.Errorf("current after deleting 2 = %v", v)
	}
	s.expectErrors([]errorCase{{"deleted version", "GET", "/room_keys/version/2", "a1", "", 404, "M_NOT_FOUND"}})
	// Version numbers are never reused.
	if v := s.ok("POST", "/room_keys/version", "a1", create)["version"]; v != "3" {
		t.Errorf("version after a deletion = %v, want 3", v)
	}
}

func TestBackupKeys(t *testing.T) {
	s := newServer(t)
	s.expectErrors([]errorCase{
		{"put without a backup", "PUT", "/room_keys/keys/!r:hs/s1?version=1", "a1", keyData(0, 0, false, "x"), 404, "M_NOT_FOUND"},
		{"get without a backup", "GET", "/room_keys/keys?version=1", "a1", "", 404, "M_NOT_FOUND"},
	})
	create := `{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": ` + authData + `}`
	s.ok("POST", "/room_keys/version", "a1", create)
	s.ok("POST", "/room_keys/version", "a1", create) // version 2 is current

	status, out := s.do("PUT", "/room_keys/keys/!r:hs/s1?version=1", "a1", keyData(0, 0, false, "x"))
	if status != 403 || out["errcode"] != "M_WRONG_ROOM_KEYS_VERSION" || out["current_version"] != "2" {
		t.Errorf("put to an old version: %d %v", status, out)
	}
	s.expectErrors([]errorCase{
		{"no version", "PUT", "/room_keys/keys/!r:hs/s1", "a1", keyData(0, 0, false, "x"), 400, "M_MISSING_PARAM"},
		{"not JSON", "PUT", "/room_keys/keys/!r:hs/s1?version=2", "a1", `{`, 400, "M_NOT_JSON"},
		{"missing fields", "PUT", "/room_keys/keys/!r:hs/s1?version=2", "a1", `{"first_message_index": 1, "session_data": {}}`, 400, "M_MISSING_PARAM"},
		{"session_data not an object", "PUT", "/room_keys/keys/!r:hs/s1?version=2", "a1",
			`{"first_message_index": 1, "forwarded_count": 0, "is_verified": false, "session_data": "x"}`, 400, "M_BAD_JSON"},
		{"room without sessions", "PUT", "/room_keys/keys/!r:hs?version=2", "a1", `{}`, 400, "M_MISSING_PARAM"},
		{"all without rooms", "PUT", "/room_keys/keys?version=2", "a1", `{}`, 400, "M_MISSING_PARAM"},
		{"get unknown version", "GET", "/room_keys/keys?version=9", "a1", "", 404, "M_NOT_FOUND"},
		{"get without version", "GET", "/room_keys/keys", "a1", "", 400, "M_MISSING_PARAM"},
		{"delete unknown version", "DELETE", "/room_keys/keys?version=9", "a1", "", 404, "M_NOT_FOUND"},
	})

	out = s.ok("PUT", "/room_keys/keys/!r:hs/s1?version=2", "a1", keyData(5, 1, false, "first"))
	if out["count"] != 1.0 || out["etag"] == nil {
		t.Fatalf("after one key: %v", out)
	}
	etag := out["etag"]

	// The spec's order decides which of two keys for a session stays.
	for _, tc := range []struct {
		name    string
		data    string
		replace bool
	}{
		{"worse index", keyData(6, 0, false, "worse index"), false},
		{"more forwards", keyData(5, 2, false, "more forwards"), false},
		{"same", keyData(5, 1, false, "same"), false},
		{"fewer forwards", keyData(5, 0, false, "fewer forwards"), true},
		{"lower index", keyData(2, 9, false, "lower index"), true},
		{"verified beats index", keyData(9, 9, true, "verified beats index"), true},
		{"unverified loses", keyData(0, 0, false, "unverified"), false},
	} {
		before := s.ok("GET", "/room_keys/keys/!r:hs/s1?version=2", "a1", "")
		out := s.ok("PUT", "/room_keys/keys/!r:hs/s1?version=2", "a1", tc.data)
		after := s.ok("GET", "/room_keys/keys/!r:hs/s1?version=2", "a1", "")
		got := path(after, "session_data", "ciphertext")
		if tc.replace && got != tc.name || !tc.replace && got != path(before, "session_data", "ciphertext") {
			t.Errorf("%s: stored %v", tc.name, got)
		}
		if changed := out["etag"] != etag; changed != tc.replace {
			t.Errorf("%s: etag %v -> %v", tc.name, etag, out["etag"])
		}
		etag = out["etag"]
		if out["count"] != 1.0 {
			t.Errorf("%s: count %v", tc.name, out["count"])
		}
	}

	// Several rooms at once, and a room's sessions.
	out = s.ok("PUT", "/room_keys/keys?version=2", "a1", fmt.Sprintf(`{"rooms": {"!r:hs": {"sessions": {"s2": %s}}, "!q:hs": {"sessions": {"s/3": %s}}}}`,
		keyData(0, 0, false, "s2"), keyData(0, 0, false, "s3")))
	if out["count"] != 3.0 {
		t.Errorf("count after three sessions: %v", out)
	}
	s.ok("PUT", "/room_keys/keys/!q:hs?version=2", "a1", `{"sessions": {"s4": `+keyData(0, 0, false, "s4")+`}}`)
	all := s.ok("GET", "/room_keys/keys?version=2", "a1", "")
	if n := len(path(all, "rooms", "!r:hs", "sessions").(map[string]any)) + len(path(all, "rooms", "!q:hs", "sessions").(map[string]any)); n != 4 {
		t.Errorf("all keys: %v", all)
	}
	if got := path(s.ok("GET", "/room_keys/keys/!q:hs/s%2F3?version=2", "a1", ""), "session_data", "ciphertext"); got != "s3" {
		t.Errorf("session with a slash: %v", got)
	}
	if sessions := s.ok("GET", "/room_keys/keys/!none:hs?version=2", "a1", "")["sessions"]; sessions == nil || len(sessions.(map[string]any)) != 0 {
		t.Errorf("room without keys: %v", sessions)
	}
	s.expectErrors([]errorCase{
		{"unknown session", "GET", "/room_keys/keys/!r:hs/nope?version=2", "a1", "", 404, "M_NOT_FOUND"},
	})
	// Reading an older version is allowed.
	if rooms := s.ok("GET", "/room_keys/keys?version=1", "a1", "")["rooms"]; len(rooms.(map[string]any)) != 0 {
		t.Errorf("version 1 has keys: %v", rooms)
	}

	if out := s.ok("DELETE", "/room_keys/keys/!r:hs/s1?version=2", "a1", ""); out["count"] != 3.0 {
		t.Errorf("after deleting a session: %v", out)
	}
	if out := s.ok("DELETE", "/room_keys/keys/!q:hs?version=2", "a1", ""); out["count"] != 1.0 {
		t.Errorf("after deleting a room: %v", out)
	}
	if out := s.ok("DELETE", "/room_keys/keys?version=2", "a1", ""); out["count"] != 0.0 {
		t.Errorf("after deleting everything: %v", out)
	}
	if out := s.ok("GET", "/room_keys/version", "a1", ""); out["count"] != 0.0 {
		t.Errorf("version info after deleting: %v", out)
	}

	// Deleting a version deletes its keys.
	s.ok("PUT", "/room_keys/keys/!r:hs/s1?version=2", "a1", keyData(0, 0, false, "x"))
	s.ok("DELETE", "/room_keys/version/2", "a1", "")
	s.expectErrors([]errorCase{{"keys of a deleted version", "GET", "/room_keys/keys?version=2", "a1", "", 404, "M_NOT_FOUND"}})
	status, out = s.do("PUT", "/room_keys/keys/!r:hs/s1?version=2", "a1", keyData(0, 0, false, "x"))
	if status != 403 || out["current_version"] != "1" {
		t.Errorf("put to the deleted version: %d %v", status, out)
	}
}
