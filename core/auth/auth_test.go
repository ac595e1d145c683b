package auth

import (
	"fmt"
	"testing"
)

func TestCreatorJoinAndBasics(t *testing.T) {
	for _, ver := range allVersions {
		t.Run("v"+ver, func(t *testing.T) {
			r := newRoom(t, ver, "")
			join := r.ev(fmt.Sprintf(`{"type":"m.room.member","state_key":%q,"sender":%q,"content":{"membership":"join"},"prev_events":%s}`,
				alice, alice, mustJSON(r.refs(r.create.ID()))))
			r.expect(join, true)
			// Bob may not claim the creator's first join.
			bobJoin := r.ev(fmt.Sprintf(`{"type":"m.room.member","state_key":%q,"sender":%q,"content":{"membership":"join"},"prev_events":%s}`,
				bob, bob, mustJSON(r.refs(r.create.ID()))))
			r.expect(bobJoin, false)

			r = standard(t, ver, "public")
			r.expect(r.ev(`{"type":"m.room.message","sender":"@alice:a.example","content":{"body":"hi"}}`), true)
			r.expect(r.ev(`{"type":"m.room.message","sender":"@bob:b.example","content":{"body":"hi"}}`), false)
			r.expect(r.memberEv(bob, bob, "join"), true)
			r.member(bob, "join")
			r.expect(r.ev(`{"type":"m.room.message","sender":"@bob:b.example","content":{"body":"hi"}}`), true)
			r.expect(r.ev(`{"type":"m.room.topic","state_key":"","sender":"@bob:b.example","content":{"topic":"x"}}`), false)
			r.expect(r.ev(`{"type":"m.room.topic","state_key":"","sender":"@alice:a.example","content":{"topic":"x"}}`), true)
		})
	}
}
