package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"hearth/core/event"
	"hearth/core/room"
)

// maxHeroes is how many members a summary names: the spec asks for five.
const maxHeroes = 5

// summary computes a room's summary from its state, and returns the joined
// members too.
func (r *run) summary(ctx context.Context, st room.State) (Summary, []string, error) {
	sel := room.State{}
	for k, id := range st {
		if k.Type == "m.room.member" || (k.StateKey == "" && (k.Type == "m.room.name" || k.Type == "m.room.canonical_alias")) {
			sel[k] = id
		}
	}
	evs, err := r.s.cfg.DAG.StateEvents(ctx, sel)
	if err != nil {
		return Summary{}, nil, fmt.Errorf("syncer: members: %w", err)
	}
	var joined, invited, gone []*event.PDU
	named := false
	for k, ev := range evs {
		switch k.Type {
		case "m.room.name":
			named = named || nonEmptyField(ev.Content(), "name")
		case "m.room.canonical_alias":
			named = named || nonEmptyField(ev.Content(), "alias")
		default:
			switch ev.Membership() {
			case "join":
				joined = append(joined, ev)
			case "invite":
				invited = append(invited, ev)
			case "leave", "ban":
				gone = append(gone, ev)
			}
		}
	}
	nj, ni := len(joined), len(invited)
	sum := Summary{JoinedMemberCount: &nj, InvitedMemberCount: &ni}
	if !named {
		sum.Heroes = heroes(r.req.UserID, append(joined, invited...))
		if len(sum.Heroes) == 0 {
			sum.Heroes = heroes(r.req.UserID, gone)
		}
	}
	members := make([]string, 0, len(joined))
	for _, ev := range joined {
		k, _ := ev.StateKey()
		members = append(members, k)
	}
	return sum, members, nil
}

// heroes picks up to maxHeroes members other than self, earliest first (by
// the time of their member event, the closest this has to stream order).
func heroes(self string, evs []*event.PDU) []string {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b *event.PDU) int {
		if a.OriginServerTS() != b.OriginServerTS() {
			return compareInts(a.OriginServerTS(), b.OriginServerTS())
		}
		return compareStrings(a.ID(), b.ID())
	})
	var out []string
	for _, ev := range evs {
		k, _ := ev.StateKey()
		if k == self {
			continue
		}
		out = append(out, k)
		if len(out) == maxHeroes {
			break
		}
	}
	return out
}

func compareInts(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// nonEmptyField reports whether content has a non-empty string at key.
func nonEmptyField(content json.RawMessage, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(content, &m) != nil {
		return false
	}
	var s string
	return json.Unmarshal(m[key], &s) == nil && s != ""
}
