package event

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"hearth/core/roomversion"
)

// benchMessage is a typical chat message with a realistic DAG position.
func benchMessage(v *roomversion.Version) Builder {
	b := message(v)
	b.Content = json.RawMessage(`{"msgtype":"m.text","body":"Are we still on for lunch tomorrow? I can book the usual place for 12:30.","m.mentions":{}}`)
	b.PrevEvents = []string{"$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"}
	b.AuthEvents = []string{
		"$Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ",
		"$af232176-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"$bf232176-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	}
	return b
}

func BenchmarkBuild(b *testing.B) {
	key := testKey(b, "ed25519:a", 1)
	v := roomversion.MustLookup("11")
	m := benchMessage(v)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(m, v, "example.org", key, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAndVerify(b *testing.B) {
	key := testKey(b, "ed25519:a", 1)
	v := roomversion.MustLookup("11")
	raw := build(b, benchMessage(v), v, key).JSON()
	keys := newKeyMap("example.org", key)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(raw, v)
		if err != nil {
			b.Fatal(err)
		}
		keys.atTS = keys.atTS[:0]
		if _, err := VerifyReceived(p, keys); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	key := testKey(b, "ed25519:a", 1)
	v := roomversion.MustLookup("11")
	raw := build(b, benchMessage(v), v, key).JSON()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedact(b *testing.B) {
	key := testKey(b, "ed25519:a", 1)
	v := roomversion.MustLookup("11")
	p := build(b, benchMessage(v), v, key)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Redacted(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCryptoFloor is the cost Build and ParseAndVerify cannot avoid:
// one ed25519 signature or verification over the signed bytes of the
// benchmark event, for comparing the overhead of the event code.
func BenchmarkCryptoFloor(b *testing.B) {
	key := testKey(b, "ed25519:a", 1)
	v := roomversion.MustLookup("11")
	p := build(b, benchMessage(v), v, key)
	signed, err := appendRedacted(nil, p.canon, v, p.Type(), false)
	if err != nil {
		b.Fatal(err)
	}
	sig := ed25519.Sign(key.Private, signed)
	b.Run("sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ed25519.Sign(key.Private, signed)
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(key.Public(), signed, sig) {
				b.Fatal("bad signature")
			}
		}
	})
}
