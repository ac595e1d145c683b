package auth

import (
	"fmt"
	"strings"
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

func TestValidUserID(t *testing.T) {
	for _, s := range []string{
		"@alice:a.example", "@a:b.c", "@alice:a.example:8448", "@alice:[::1]", "@alice:[::1]:80", "@alice:127.0.0.1",
		"@Historic_Näme!:a.example", "@=3d:a.example",
	} {
		if !ValidUserID(s) {
			t.Errorf("ValidUserID(%q) = false", s)
		}
	}
	for _, s := range []string{
		"", "alice:a.example", "@alice", "@:a.example", "@alice:", "@alice:a example", "@al\nice:a.example",
		"@alice:a.example:", "@alice:a.example:port", "@alice:[::1", "@alice:[]", "@alice:a.example:123456",
		"@" + strings.Repeat("a", 250) + ":a.example", "#room:a.example",
	} {
		if ValidUserID(s) {
			t.Errorf("ValidUserID(%q) = true", s)
		}
	}
}

func TestPowerLevelsTypeWithoutStateKey(t *testing.T) {
	// "If type is m.room.power_levels" holds for any event of that type:
	// from v10 its content must still be integer-only.
	r := standard(t, "10", "public")
	r.expect(r.ev(`{"type":"m.room.power_levels","sender":"@alice:a.example","content":{"ban":"5"}}`), false)
	r.expect(r.ev(`{"type":"m.room.power_levels","sender":"@alice:a.example","content":{"users":{"@alice:a.example":100}}}`), true)
}
