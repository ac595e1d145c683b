package account_test

import (
	"slices"
	"strings"
	"testing"

	"hearth/core/clientapi/account"
)

func TestDevices(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("alice", "pw")
	e.user("bob", "pw")
	if status, body := e.do("POST", "/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": "pw", "device_id": "LAPTOP", "initial_device_display_name": "Laptop"}); status != 200 {
		t.Fatalf("login: %d %v", status, body)
	}
	aliceTok, _ := e.login("alice", "pw", "LAPTOP")
	e.login("alice", "pw", "PHONE")
	bobTok, _ := e.login("bob", "pw", "BOBDEV")

	status, body := e.do("GET", "/devices", aliceTok, nil)
	devs, _ := body["devices"].([]any)
	if status != 200 || len(devs) != 2 {
		t.Fatalf("GET /devices: %d %v", status, body)
	}
	var ids []string
	for _, d := range devs {
		m := d.(map[string]any)
		ids = append(ids, m["device_id"].(string))
		if m["last_seen_ts"] == nil || m["last_seen_ip"] != "203.0.113.9" {
			t.Errorf("device %v lacks last seen", m)
		}
		if _, ok := m["user_id"]; ok {
			t.Errorf("device %v has fields beyond the spec's", m)
		}
	}
	if !slices.Equal(ids, []string{"LAPTOP", "PHONE"}) {
		t.Errorf("device IDs %v", ids)
	}

	status, body = e.do("GET", "/devices/LAPTOP", aliceTok, nil)
	if status != 200 || body["device_id"] != "LAPTOP" || body["display_name"] != "Laptop" {
		t.Errorf("GET /devices/LAPTOP: %d %v", status, body)
	}
	status, body = e.do("GET", "/devices/BOBDEV", aliceTok, nil)
	e.want("someone else's device", status, body, 404, "M_NOT_FOUND")
	status, body = e.do("GET", "/devices/NOPE", aliceTok, nil)
	e.want("unknown device", status, body, 404, "M_NOT_FOUND")

	status, body = e.do("PUT", "/devices/PHONE", aliceTok, map[string]any{"display_name": "Pocket"})
	e.want("rename", status, body, 200, "")
	if _, body = e.do("GET", "/devices/PHONE", aliceTok, nil); body["display_name"] != "Pocket" {
		t.Errorf("after rename: %v", body)
	}
	status, body = e.do("PUT", "/devices/PHONE", aliceTok, map[string]any{})
	e.want("no change", status, body, 200, "")
	if _, body = e.do("GET", "/devices/PHONE", aliceTok, nil); body["display_name"] != "Pocket" {
		t.Errorf("an empty PUT renamed: %v", body)
	}
	for _, tt := range []struct {
		name, path string
		body       any
		status     int
		code       string
	}{
		{"rename unknown", "/devices/NOPE", map[string]any{"display_name": "x"}, 404, "M_NOT_FOUND"},
		{"touch unknown", "/devices/NOPE", map[string]any{}, 404, "M_NOT_FOUND"},
		{"rename bob's", "/devices/BOBDEV", map[string]any{"display_name": "x"}, 404, "M_NOT_FOUND"},
		{"long name", "/devices/PHONE", map[string]any{"display_name": strings.Repeat("x", 101)}, 400, "M_INVALID_PARAM"},
		{"name not a string", "/devices/PHONE", map[string]any{"display_name": 3}, 400, "M_BAD_JSON"},
		{"not JSON", "/devices/PHONE", `{`, 400, "M_NOT_JSON"},
	} {
		status, body := e.do("PUT", tt.path, aliceTok, tt.body)
		e.want(tt.name, status, body, tt.status, tt.code)
	}
	status, body = e.do("GET", "/devices", "", nil)
	e.want("no token", status, body, 401, "M_MISSING_TOKEN")
	if status, _ := e.do("GET", "/devices/BOBDEV", bobTok, nil); status != 200 {
		t.Errorf("bob's own device: %d", status)
	}
}

func TestDeleteDevice(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	alice := e.user("alice", "pw")
	tok, _ := e.login("alice", "pw", "MAIN")
	phone, _ := e.login("alice", "pw", "PHONE")

	status, probe := e.do("DELETE", "/devices/PHONE", tok, nil)
	if status != 401 || !slices.Equal(flows(probe)[0], []string{"m.login.password"}) {
		t.Fatalf("probe: %d %v", status, probe)
	}
	session := probe["session"].(string)
	status, body := e.do("DELETE", "/devices/PHONE", tok, map[string]any{"auth": passwordAuth("alice", "bad", session)})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("wrong password: %d %v", status, body)
	}
	// The session authorises deleting PHONE, not another device.
	status, body = e.do("DELETE", "/devices/MAIN", tok, map[string]any{"auth": passwordAuth("alice", "pw", session)})
	e.want("session for another device", status, body, 403, "M_FORBIDDEN")
	status, body = e.do("DELETE", "/devices/PHONE", tok, map[string]any{"auth": passwordAuth("alice", "pw", session)})
	e.want("delete", status, body, 200, "")
	status, body = e.do("GET", "/account/whoami", phone, nil)
	e.want("deleted device's token", status, body, 401, "M_UNKNOWN_TOKEN")
	status, body = e.do("GET", "/devices/PHONE", tok, nil)
	e.want("deleted device", status, body, 404, "M_NOT_FOUND")
	if got := e.deletedDevices(); !slices.Equal(got, []string{alice + "/PHONE"}) {
		t.Errorf("OnDeviceDeleted %v", got)
	}
	// Deleting a device that is gone succeeds (after authentication).
	status, body = e.do("DELETE", "/devices/GONE", tok, map[string]any{"auth": passwordAuth("alice", "pw", "")})
	e.want("delete a missing device", status, body, 200, "")
	status, body = e.do("DELETE", "/devices/PHONE", tok, `[`)
	e.want("not JSON", status, body, 400, "M_NOT_JSON")
	status, body = e.do("DELETE", "/devices/PHONE", "", nil)
	e.want("no token", status, body, 401, "M_MISSING_TOKEN")
}

func TestDeleteDevices(t *testing.T) {
	e := newEnv(t, account.RegistrationToken)
	e.user("alice", "pw")
	e.user("bob", "pw")
	tok, _ := e.login("alice", "pw", "MAIN")
	a, _ := e.login("alice", "pw", "A")
	b, _ := e.login("alice", "pw", "B")
	bobTok, _ := e.login("bob", "pw", "A")

	status, body := e.do("POST", "/delete_devices", tok, map[string]any{})
	e.want("no devices", status, body, 400, "M_MISSING_PARAM")
	status, body = e.do("POST", "/delete_devices", tok, map[string]any{"devices": "A"})
	e.want("devices not a list", status, body, 400, "M_BAD_JSON")

	req := map[string]any{"devices": []string{"B", "A", "A"}}
	status, probe := e.do("POST", "/delete_devices", tok, req)
	if status != 401 {
		t.Fatalf("probe: %d %v", status, probe)
	}
	session := probe["session"].(string)
	status, body = e.do("POST", "/delete_devices", tok, map[string]any{"devices": []string{"MAIN"}, "auth": passwordAuth("alice", "pw", session)})
	e.want("session for other devices", status, body, 403, "M_FORBIDDEN")
	status, body = e.do("POST", "/delete_devices", bobTok, map[string]any{"devices": []string{"A", "B"}, "auth": passwordAuth("bob", "pw", session)})
	e.want("another user's session", status, body, 403, "M_FORBIDDEN")

	req["auth"] = passwordAuth("alice", "pw", session)
	status, body = e.do("POST", "/delete_devices", tok, req)
	e.want("delete", status, body, 200, "")
	for _, tk := range []string{a, b} {
		status, body = e.do("GET", "/account/whoami", tk, nil)
		e.want("deleted device's token", status, body, 401, "M_UNKNOWN_TOKEN")
	}
	for _, tk := range []string{tok, bobTok} {
		status, body = e.do("GET", "/account/whoami", tk, nil)
		e.want("kept device", status, body, 200, "")
	}
	// A retry after success answers the same.
	status, body = e.do("POST", "/delete_devices", tok, req)
	e.want("retry", status, body, 200, "")
}
