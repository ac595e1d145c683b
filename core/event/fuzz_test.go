package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"hearth/core/canonicaljson"
	"hearth/core/internal/vectors"
	"hearth/core/roomversion"
)

// seedEvents returns events for the fuzz corpora: events built here for
// every room version and event shape, and the vector events.
func seedEvents(f *testing.F) [][]byte {
	key := testKey(f, "ed25519:a", 1)
	var seeds [][]byte
	for _, v := range roomversion.All() {
		b := message(v)
		seeds = append(seeds, build(f, b, v, key).JSON())
		b.Type, b.StateKey = "m.room.member", strp("@bob:example.org")
		b.Content = json.RawMessage(`{"membership":"join","join_authorised_via_users_server":"@alice:example.org","third_party_invite":{"signed":{"token":"t"}}}`)
		seeds = append(seeds, build(f, b, v, key).JSON())
		b.Type, b.StateKey, b.Redacts, b.Content = "m.room.redaction", nil, "$x:example.org", nil
		seeds = append(seeds, build(f, b, v, key).JSON())
	}
	var red struct {
		Cases []struct {
			Input json.RawMessage `json:"input"`
		} `json:"cases"`
	}
	vectors.Load(f, "derived_redaction.json", &red)
	for _, c := range red.Cases {
		seeds = append(seeds, c.Input)
	}
	var hashing struct {
		Cases []struct {
			Signed json.RawMessage `json:"expected_signed_event"`
		} `json:"cases"`
	}
	vectors.Load(f, "derived_event_hashing.json", &hashing)
	for _, c := range hashing.Cases {
		seeds = append(seeds, c.Signed)
	}
	return seeds
}

// fuzzVersion picks a room version from a fuzzed byte.
func fuzzVersion(n uint8) *roomversion.Version {
	all := roomversion.All()
	return all[int(n)%len(all)]
}

func FuzzParse(f *testing.F) {
	for i, s := range seedEvents(f) {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, raw []byte, n uint8) {
		v := fuzzVersion(n)
		p, err := Parse(raw, v)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if p.ID() == "" || p.Type() == "" || p.Sender() == "" || p.RoomID() == "" {
			t.Fatalf("parsed event lacks ID, type, sender or room: %s", raw)
		}
		// The canonical form parses to the same event.
		c, err := canonicaljson.Canonicalize(raw)
		if err != nil {
			t.Fatalf("Parse accepted JSON that does not canonicalise: %v", err)
		}
		q, err := Parse(c, v)
		if err != nil || q.ID() != p.ID() {
			t.Fatalf("canonical form: %v, ID %v vs %s", err, q, p.ID())
		}
		// The redacted form keeps the ID and still parses.
		r, err := p.Redacted()
		if err != nil {
			t.Fatalf("Redacted: %v", err)
		}
		if r.ID() != p.ID() {
			t.Fatalf("redacted ID %s, want %s", r.ID(), p.ID())
		}
		if rr, err := Parse(r.JSON(), v); err != nil || rr.ID() != p.ID() {
			t.Fatalf("redacted form: %v", err)
		}
		if err := p.CheckContentHash(); err != nil && !errors.Is(err, ErrHashMismatch) && !errors.Is(err, ErrInvalid) {
			t.Fatalf("CheckContentHash: %v", err)
		}
		if err := VerifySignatures(p, newKeyMap()); err != nil && !errors.Is(err, ErrSignature) {
			t.Fatalf("VerifySignatures: %v", err)
		}
		p.RequiredSigners()
		p.Redacts()
	})
}

func FuzzRedact(f *testing.F) {
	for i, s := range seedEvents(f) {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, raw []byte, n uint8) {
		v := fuzzVersion(n)
		out, err := Redact(raw, v)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Redact error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		// The output is canonical JSON and redaction is idempotent.
		c, err := canonicaljson.AppendCanonical(nil, out, v.StrictCanonicalJSON)
		if err != nil || !bytes.Equal(c, out) {
			t.Fatalf("Redact output is not canonical: %s (%v)", out, err)
		}
		again, err := Redact(out, v)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Redact is not idempotent: %s -> %s (%v)", out, again, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("Redact output is not an object: %v", err)
		}
		for k := range m {
			if !keepTopLevel(appendString(nil, k), v) {
				t.Fatalf("Redact kept top-level %q in room version %s", k, v.ID)
			}
		}
	})
}
