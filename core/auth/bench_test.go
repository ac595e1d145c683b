package auth

import (
	"testing"
)

// benchRoom is a room with typical power levels and a joined sender.
func benchRoom(b *testing.B, ver string) *room {
	r := newRoom(b, ver, "")
	r.member(alice, "join")
	r.member(bob, "join")
	r.joinRules("invite")
	r.powerLevels(`{"ban":50,"kick":50,"redact":50,"invite":0,"state_default":50,"events_default":0,"users_default":0,
		"events":{"m.room.name":50,"m.room.power_levels":100,"m.room.history_visibility":100,"m.room.canonical_alias":50,
		"m.room.avatar":50,"m.room.tombstone":100,"m.room.server_acl":100,"m.room.encryption":100},
		"users":{"@bob:b.example":10,"@carol:c.example":50},"notifications":{"room":50}}`)
	return r
}

func BenchmarkCheckMessage(b *testing.B) {
	for _, ver := range []string{"1", "10", "12"} {
		b.Run("v"+ver, func(b *testing.B) {
			r := benchRoom(b, ver)
			ev := r.ev(`{"type":"m.room.message","sender":"@bob:b.example","content":{"msgtype":"m.text","body":"hello"}}`)
			b.ReportAllocs()
			for b.Loop() {
				if err := Check(ev, r.state); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCheckJoin(b *testing.B) {
	r := benchRoom(b, "11")
	r.member(dave, "invite")
	ev := r.memberEv(dave, dave, "join")
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(ev, r.state); err != nil {
			b.Fatal(err)
		}
	}
}
