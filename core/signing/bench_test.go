package signing

import (
	"bytes"
	"testing"
)

// benchEvent is a realistic federated m.room.message PDU of about 1 KiB,
// already signed by its origin, with an "unsigned" section.
const benchEvent = `{
  "auth_events": ["$5Y6pS9cX0Q1wQ2fY8n0m8i7l5q9a2s3d4f5g6h7j8k9", "$a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v", "$zyxwvutsrqponmlkjihgfedcba0987654321ZYXWVUT"],
  "content": {
    "body": "Hello everyone, this is a message long enough to look like a real chat line, with some emoji 🎉 and a link https://example.org/some/path?query=1",
    "format": "org.matrix.custom.html",
    "formatted_body": "<p>Hello everyone, this is a message long enough to look like a real chat line, with some emoji 🎉 and a <a href=\"https://example.org/some/path?query=1\">link</a></p>",
    "msgtype": "m.text",
    "m.mentions": {"user_ids": ["@bob:remote.example"]}
  },
  "depth": 12345,
  "hashes": {"sha256": "ThisIsAContentHashValueWrittenInUnpaddedBase64XYZ"},
  "origin_server_ts": 1700000000000,
  "prev_events": ["$prevEventIdNumberOneAbCdEfGhIjKlMnOpQrStUvWxYz01"],
  "room_id": "!someRoomIdentifier:domain",
  "sender": "@alice:domain",
  "signatures": {"remote.example": {"ed25519:auto": "s76RUgajp8w172am0zQb/iPTHsRnb4SkrzGoeCOSFfcBY2V/1c8QfrmdXHpvnc2jK5BD1WiJIxiMW95fMjK7Bw"}},
  "type": "m.room.message",
  "unsigned": {"age_ts": 1700000000500, "transaction_id": "m1700000000000.1"}
}`

func benchKey(b *testing.B) Key {
	b.Helper()
	k, err := KeyFromSeed("ed25519:1", bytes.Repeat([]byte{5}, 32))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkSignJSON(b *testing.B) {
	k := benchKey(b)
	in := []byte(benchEvent)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignJSON(in, "domain", k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyJSON(b *testing.B) {
	k := benchKey(b)
	signed, err := SignJSON([]byte(benchEvent), "domain", k)
	if err != nil {
		b.Fatal(err)
	}
	pub := k.Public()
	b.SetBytes(int64(len(signed)))
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyJSON(signed, "domain", k.ID, pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseObject measures the JSON work alone (canonicalise, scan,
// strip), the part of signing and verifying that this package controls.
func BenchmarkParseObject(b *testing.B) {
	in := []byte(benchEvent)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseObject(in); err != nil {
			b.Fatal(err)
		}
	}
}
