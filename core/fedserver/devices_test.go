package fedserver

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"hearth/core/e2ee"
	"hearth/core/fedclient"
)

type fakeDevices map[string][]fedclient.Device

func (f fakeDevices) DeviceList(_ context.Context, user string) ([]fedclient.Device, error) {
	return append([]fedclient.Device(nil), f[user]...), nil
}

// fakeKeys records which users it was asked about.
type fakeKeys struct {
	asked   map[string][]string
	claimed map[string]map[string]string
}

func (k *fakeKeys) QueryKeys(_ context.Context, _ string, users map[string][]string) (*e2ee.QueryResult, error) {
	k.asked = users
	return &e2ee.QueryResult{
		DeviceKeys: map[string]map[string]json.RawMessage{"@alice:hs.test": {"DEV": json.RawMessage(`{"device_id":"DEV"}`)}},
		MasterKeys: map[string]json.RawMessage{"@alice:hs.test": json.RawMessage(`{"usage":["master"]}`)},
	}, nil
}

func (k *fakeKeys) ClaimKeys(_ context.Context, claims map[string]map[string]string) (*e2ee.ClaimResult, error) {
	k.claimed = claims
	return &e2ee.ClaimResult{OneTimeKeys: map[string]map[string]map[string]json.RawMessage{
		"@alice:hs.test": {"DEV": {"signed_curve25519:AAA": json.RawMessage(`{"key":"k"}`)}}}}, nil
}

func TestDevicesAndKeys(t *testing.T) {
	keys := &fakeKeys{}
	e := newEnv(t, func(c *Config) {
		c.Devices = fakeDevices{"@alice:hs.test": {{DeviceID: "DEV", DisplayName: "phone"}, {DeviceID: "OLD"}}}
		c.Keys = keys
	})
	out := e.expect("remote.test", "GET", "/user/devices/@alice:hs.test", nil, http.StatusOK, "")
	if asJSON(out["devices"]) != `[{"device_display_name":"phone","device_id":"DEV","keys":{"device_id":"DEV"}},{"device_id":"OLD"}]` ||
		out["user_id"] != "@alice:hs.test" || out["master_key"] == nil {
		t.Fatalf("devices: %v", out)
	}
	e.expect("remote.test", "GET", "/user/devices/@bob:remote.test", nil, http.StatusBadRequest, "M_INVALID_PARAM")

	out = e.expect("remote.test", "POST", "/user/keys/query", map[string]any{"device_keys": map[string]any{
		"@alice:hs.test": []string{}, "@bob:remote.test": []string{}}}, http.StatusOK, "")
	if _, ok := keys.asked["@bob:remote.test"]; ok || len(keys.asked) != 1 {
		t.Fatalf("keys query asked about %v; only local users belong", keys.asked)
	}
	if out["device_keys"] == nil || out["master_keys"] == nil {
		t.Fatalf("keys query: %v", out)
	}
	out = e.expect("remote.test", "POST", "/user/keys/claim", map[string]any{"one_time_keys": map[string]any{
		"@alice:hs.test": map[string]string{"DEV": "signed_curve25519"}, "@bob:remote.test": map[string]string{"X": "signed_curve25519"}}}, http.StatusOK, "")
	if len(keys.claimed) != 1 || keys.claimed["@alice:hs.test"]["DEV"] != "signed_curve25519" {
		t.Fatalf("claimed %v", keys.claimed)
	}
	if asJSON(out["one_time_keys"]) != `{"@alice:hs.test":{"DEV":{"signed_curve25519:AAA":{"key":"k"}}}}` {
		t.Fatalf("claim: %v", out)
	}
	e.expect("remote.test", "POST", "/user/keys/query", "{", http.StatusBadRequest, "M_NOT_JSON")
	e.expect("remote.test", "POST", "/user/keys/claim", "[]", http.StatusBadRequest, "")

	bare := newEnv(t, nil)
	bare.expect("remote.test", "GET", "/user/devices/@alice:hs.test", nil, http.StatusNotFound, "M_UNRECOGNIZED")
	bare.expect("remote.test", "POST", "/user/keys/query", map[string]any{}, http.StatusNotFound, "M_UNRECOGNIZED")
}
