package hearthproc

import (
	"net/http"
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestStartRestartStop(t *testing.T) {
	p := Start(t, Options{LogLevel: "warn"})
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"client URL", p.ClientURL != ""},
		{"federation port", p.FederationPort > 0},
		{"server name", p.ServerName != ""},
		{"data dir", p.DataDir != ""},
		{"alive", p.Alive()},
	} {
		if !tc.ok {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}
	name, port := p.ServerName, p.FederationPort
	p.Restart()
	if !p.Alive() || p.ServerName != name || p.FederationPort != port {
		t.Fatalf("after Restart: alive %v, %s %d", p.Alive(), p.ServerName, p.FederationPort)
	}
	resp, err := http.Get(p.ClientURL + "/_matrix/client/versions")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("versions after restart: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := p.Stop(); err != nil {
		t.Errorf("Stop = %v, want a clean exit", err)
	}
	if p.Alive() {
		t.Error("alive after Stop")
	}
}
