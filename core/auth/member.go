package auth

import (
	"encoding/json"

	"hearth/core/event"
	"hearth/core/mxid"
)

// Join rules.
const (
	joinRulePublic          = "public"
	joinRuleInvite          = "invite"
	joinRuleKnock           = "knock"
	joinRuleRestricted      = "restricted"
	joinRuleKnockRestricted = "knock_restricted"
)

// memberContent is the content of an m.room.member event as the rules read
// it. Raw fields keep "present" apart from "absent".
type memberContent struct {
	Membership       json.RawMessage `json:"membership"`
	AuthorisedVia    json.RawMessage `json:"join_authorised_via_users_server"`
	ThirdPartyInvite json.RawMessage `json:"third_party_invite"`
}

// checkMember applies the m.room.member rules (rule 5 in room version 1,
// rule 4 in versions 6 to 11, rule 5 in version 12).
func checkMember(ev *event.PDU, state State, create *event.PDU, pl *PowerLevels) error {
	v := ev.Version()
	target, ok := ev.StateKey()
	if !ok {
		return deny("m.room.member", "no state_key")
	}
	var c memberContent
	if err := json.Unmarshal(ev.Content(), &c); err != nil {
		return deny("m.room.member", "content is not an object")
	}
	var membership string
	if len(c.Membership) == 0 || json.Unmarshal(c.Membership, &membership) != nil {
		return deny("m.room.member", "no membership in content")
	}
	var authoriser string
	if v.RestrictedJoins && len(c.AuthorisedVia) > 0 && !isNull(c.AuthorisedVia) {
		if json.Unmarshal(c.AuthorisedVia, &authoriser) != nil || !ValidUserID(authoriser) {
			return deny("m.room.member", "join_authorised_via_users_server is not a user ID")
		}
		if len(ev.Signatures()[mxid.ServerOf(authoriser)]) == 0 {
			return deny("m.room.member", "not signed by %s, the server of join_authorised_via_users_server", mxid.ServerOf(authoriser))
		}
	}
	sender := ev.Sender()
	switch membership {
	case membershipJoin:
		return checkJoin(ev, state, create, pl, target, authoriser)
	case membershipInvite:
		return checkInvite(ev, state, pl, target, c.ThirdPartyInvite)
	case membershipLeave:
		senderMembership := membershipIn(state, sender)
		if sender == target {
			switch senderMembership {
			case membershipInvite, membershipJoin:
				return nil
			case membershipKnock:
				if v.Knocking {
					return nil
				}
			}
			return deny("m.room.member leave", "%s cannot leave with membership %q", sender, senderMembership)
		}
		if senderMembership != membershipJoin {
			return deny("m.room.member leave", "sender %s is not joined", sender)
		}
		senderLevel, targetLevel := pl.UserLevel(sender), pl.UserLevel(target)
		if membershipIn(state, target) == membershipBan && senderLevel < pl.Ban() {
			return deny("m.room.member leave", "unban needs level %d, sender has %d", pl.Ban(), senderLevel)
		}
		if senderLevel >= pl.Kick() && targetLevel < senderLevel {
			return nil
		}
		return deny("m.room.member leave", "kick needs level %d and above the target's %d, sender has %d", pl.Kick(), targetLevel, senderLevel)
	case membershipBan:
		if m := membershipIn(state, sender); m != membershipJoin {
			return deny("m.room.member ban", "sender %s is not joined", sender)
		}
		senderLevel, targetLevel := pl.UserLevel(sender), pl.UserLevel(target)
		if senderLevel >= pl.Ban() && targetLevel < senderLevel {
			return nil
		}
		return deny("m.room.member ban", "ban needs level %d and above the target's %d, sender has %d", pl.Ban(), targetLevel, senderLevel)
	case membershipKnock:
		if !v.Knocking {
			break
		}
		jr := joinRule(state)
		if jr != joinRuleKnock && !(v.KnockRestricted && jr == joinRuleKnockRestricted) {
			return deny("m.room.member knock", "join rule %q does not allow knocking", jr)
		}
		if sender != target {
			return deny("m.room.member knock", "sender %s knocks for %s", sender, target)
		}
		switch m := membershipIn(state, sender); m {
		case membershipBan, membershipInvite, membershipJoin:
			return deny("m.room.member knock", "sender's membership is %q", m)
		}
		return nil
	}
	return deny("m.room.member", "unknown membership %q", membership)
}

// checkJoin applies the membership join rules.
func checkJoin(ev *event.PDU, state State, create *event.PDU, pl *PowerLevels, target, authoriser string) error {
	v := ev.Version()
	sender := ev.Sender()
	if prev := ev.PrevEvents(); len(prev) == 1 && prev[0] == create.ID() {
		if creators := createInfoOf(create).creators; len(creators) > 0 && target == creators[0] {
			return nil
		}
	}
	if sender != target {
		return deny("m.room.member join", "sender %s joins for %s", sender, target)
	}
	current := membershipIn(state, sender)
	if current == membershipBan {
		return deny("m.room.member join", "sender %s is banned", sender)
	}
	switch jr := joinRule(state); {
	case jr == joinRuleInvite || (v.Knocking && jr == joinRuleKnock):
		if current == membershipInvite || current == membershipJoin {
			return nil
		}
		return deny("m.room.member join", "join rule %q needs an invite, membership is %q", jr, current)
	case (v.RestrictedJoins && jr == joinRuleRestricted) || (v.KnockRestricted && jr == joinRuleKnockRestricted):
		if current == membershipInvite || current == membershipJoin {
			return nil
		}
		if authoriser == "" {
			return deny("m.room.member join", "join rule %q needs join_authorised_via_users_server", jr)
		}
		if m := membershipIn(state, authoriser); m != membershipJoin {
			return deny("m.room.member join", "authorising user %s is not joined", authoriser)
		}
		if level := pl.UserLevel(authoriser); level < pl.Invite() {
			return deny("m.room.member join", "authorising user %s has level %d, below invite level %d", authoriser, level, pl.Invite())
		}
		return nil
	case jr == joinRulePublic:
		return nil
	default:
		return deny("m.room.member join", "join rule %q does not allow joining", jr)
	}
}

// checkInvite applies the membership invite rules.
func checkInvite(ev *event.PDU, state State, pl *PowerLevels, target string, tpi json.RawMessage) error {
	sender := ev.Sender()
	targetMembership := membershipIn(state, target)
	if len(tpi) > 0 {
		if targetMembership == membershipBan {
			return deny("m.room.member third_party_invite", "target %s is banned", target)
		}
		return checkThirdPartyInvite(ev, state, target, tpi)
	}
	if m := membershipIn(state, sender); m != membershipJoin {
		return deny("m.room.member invite", "sender %s is not joined", sender)
	}
	if targetMembership == membershipJoin || targetMembership == membershipBan {
		return deny("m.room.member invite", "target %s has membership %q", target, targetMembership)
	}
	if level := pl.UserLevel(sender); level < pl.Invite() {
		return deny("m.room.member invite", "sender level %d below invite level %d", level, pl.Invite())
	}
	return nil
}
