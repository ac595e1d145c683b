//go:build !goolm

package mautrix_test

import "testing"

// TestMautrixE2EE needs mautrix's pure-Go olm (goolm), chosen by a build tag;
// without it mautrix's crypto package needs cgo and libolm instead.
func TestMautrixE2EE(t *testing.T) {
	t.Fatal("the E2EE test needs mautrix's pure-Go olm: run `go test -tags goolm ./...` in tests/mautrix")
}
