// Package mautrix_test drives a real hearth process with mautrix-go, a Go
// Matrix client library, end to end over its client-server API.
//
// It is a module of its own so that the main module (and its wasm build)
// never depends on mautrix. Run it with `cd tests/mautrix && go test ./...`;
// HEARTH_LOG=1 prints hearth's log even when the test passes.
package mautrix_test

import (
	"hearth/tests/internal/hearthproc"
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(hearthproc.Main(m)) }

// startHearth starts hearth with open registration and no rate limit on
// loopback ports, and returns its client base URL and server name. The
// process is killed when the test ends; its log is printed if the test
// failed (or HEARTH_LOG is set).
func startHearth(t *testing.T) (baseURL, serverName string) {
	t.Helper()
	p := hearthproc.Start(t, hearthproc.Options{})
	return p.ClientURL, p.ServerName
}
