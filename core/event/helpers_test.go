package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"hearth/core/roomversion"
	"hearth/core/signing"
)

// testKey returns a deterministic signing key named id.
func testKey(t testing.TB, id string, seed byte) signing.Key {
	t.Helper()
	k, err := signing.KeyFromSeed(id, bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// zeroRand is a random source for v1/v2 event IDs in tests.
type countingRand struct{ n byte }

func (r *countingRand) Read(p []byte) (int, error) {
	for i := range p {
		r.n++
		p[i] = r.n
	}
	return len(p), nil
}

// roomFor returns a room ID of the right form for v.
func roomFor(v *roomversion.Version) string {
	if v.RoomIDFromCreateEvent {
		return "!" + strings.Repeat("A", 43)
	}
	return "!room:example.org"
}

// message returns a builder for a plain message in a room of version v.
func message(v *roomversion.Version) Builder {
	return Builder{
		RoomID:         roomFor(v),
		Sender:         "@alice:example.org",
		Type:           "m.room.message",
		Content:        json.RawMessage(`{"msgtype":"m.text","body":"hello, world"}`),
		PrevEvents:     []string{"$prev1:example.org", "$prev2:example.org"},
		AuthEvents:     []string{"$auth1:example.org", "$auth2:example.org", "$auth3:example.org"},
		Depth:          42,
		OriginServerTS: 1700000000000,
	}
}

// build builds b for v as example.org or fails the test.
func build(t testing.TB, b Builder, v *roomversion.Version, key signing.Key) *PDU {
	t.Helper()
	p, err := Build(b, v, "example.org", key, &countingRand{})
	if err != nil {
		t.Fatalf("Build v%s %s: %v", v.ID, b.Type, err)
	}
	return p
}

// edit decodes the top level of raw, lets fn change it and encodes it again.
func edit(t testing.TB, raw []byte, fn func(m map[string]json.RawMessage)) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// strp returns a pointer to s.
func strp(s string) *string { return &s }
