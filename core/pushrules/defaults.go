package pushrules

import (
	"encoding/json"
	"strings"
)

// IDs of the server-default rules that Defaults returns.
const (
	RuleMaster              = ".m.rule.master"
	RuleSuppressNotices     = ".m.rule.suppress_notices"
	RuleInviteForMe         = ".m.rule.invite_for_me"
	RuleMemberEvent         = ".m.rule.member_event"
	RuleIsUserMention       = ".m.rule.is_user_mention"
	RuleContainsDisplayName = ".m.rule.contains_display_name"
	RuleIsRoomMention       = ".m.rule.is_room_mention"
	RuleRoomNotif           = ".m.rule.roomnotif"
	RuleTombstone           = ".m.rule.tombstone"
	RuleReaction            = ".m.rule.reaction"
	RuleServerACL           = ".m.rule.room.server_acl"
	RuleSuppressEdits       = ".m.rule.suppress_edits"
	RuleContainsUserName    = ".m.rule.contains_user_name"
	RuleCall                = ".m.rule.call"
	RuleEncryptedOneToOne   = ".m.rule.encrypted_room_one_to_one"
	RuleRoomOneToOne        = ".m.rule.room_one_to_one"
	RuleMessage             = ".m.rule.message"
	RuleEncrypted           = ".m.rule.encrypted"
)

// IsServerDefault reports whether id names a server-default rule: the spec
// reserves rule IDs starting with "." for them.
func IsServerDefault(id string) bool { return strings.HasPrefix(id, ".") }

// legacyMentionRule reports whether id is one of the rules that v1.7
// deprecated in favour of m.mentions and that "should only be enabled if the
// event does not have an m.mentions property".
func legacyMentionRule(id string) bool {
	return id == RuleContainsDisplayName || id == RuleRoomNotif || id == RuleContainsUserName
}

// Defaults returns the server-default push rules for the user userID whose
// localpart is localpart, in the order of the client-server API v1.12,
// "Push Rules: Predefined Rules" (Default Override, Content and Underride
// Rules), with the spec's placeholders "[the user's Matrix ID]" and "[the
// local part of the user's Matrix ID]" filled in. It builds a fresh value on
// every call, so callers may edit the result.
func Defaults(userID, localpart string) Ruleset {
	sound := SetTweak(TweakSound, json.RawMessage(`"default"`))
	ring := SetTweak(TweakSound, json.RawMessage(`"ring"`))
	highlight := SetTweak(TweakHighlight, nil)
	userJSON, _ := json.Marshal(userID) // marshalling a string cannot fail

	rule := func(id string, actions []Action, conds ...Condition) Rule {
		if conds == nil {
			conds = []Condition{}
		}
		if actions == nil {
			actions = []Action{}
		}
		return Rule{RuleID: id, Default: true, Enabled: true, Conditions: conds, Actions: actions}
	}
	master := rule(RuleMaster, nil)
	master.Enabled = false
	typeIs := func(t string) Condition { return EventMatch("type", t) }

	return Ruleset{Global: Rules{
		Override: []Rule{
			master,
			rule(RuleSuppressNotices, nil, EventMatch("content.msgtype", "m.notice")),
			rule(RuleInviteForMe, []Action{Notify(), sound},
				typeIs("m.room.member"),
				EventMatch("content.membership", "invite"),
				EventMatch("state_key", userID)),
			rule(RuleMemberEvent, nil, typeIs("m.room.member")),
			rule(RuleIsUserMention, []Action{Notify(), sound, highlight},
				Condition{Kind: CondEventPropertyContains, Key: `content.m\.mentions.user_ids`, Value: userJSON}),
			rule(RuleContainsDisplayName, []Action{Notify(), sound, highlight},
				Condition{Kind: CondContainsDisplayName}),
			rule(RuleIsRoomMention, []Action{Notify(), highlight},
				Condition{Kind: CondEventPropertyIs, Key: `content.m\.mentions.room`, Value: json.RawMessage(`true`)},
				Condition{Kind: CondSenderNotificationPermission, Key: "room"}),
			rule(RuleRoomNotif, []Action{Notify(), highlight},
				EventMatch("content.body", "@room"),
				Condition{Kind: CondSenderNotificationPermission, Key: "room"}),
			rule(RuleTombstone, []Action{Notify(), highlight},
				typeIs("m.room.tombstone"),
				EventMatch("state_key", "")),
			rule(RuleReaction, nil, typeIs("m.reaction")),
			rule(RuleServerACL, nil,
				typeIs("m.room.server_acl"),
				EventMatch("state_key", "")),
			rule(RuleSuppressEdits, nil,
				Condition{Kind: CondEventPropertyIs, Key: `content.m\.relates_to.rel_type`, Value: json.RawMessage(`"m.replace"`)}),
		},
		Content: []Rule{{
			RuleID: RuleContainsUserName, Default: true, Enabled: true,
			Pattern: localpart,
			Actions: []Action{Notify(), sound, highlight},
		}},
		Room:   []Rule{},
		Sender: []Rule{},
		Underride: []Rule{
			rule(RuleCall, []Action{Notify(), ring}, typeIs("m.call.invite")),
			rule(RuleEncryptedOneToOne, []Action{Notify(), sound},
				Condition{Kind: CondRoomMemberCount, Is: "2"},
				typeIs("m.room.encrypted")),
			rule(RuleRoomOneToOne, []Action{Notify(), sound},
				Condition{Kind: CondRoomMemberCount, Is: "2"},
				typeIs("m.room.message")),
			rule(RuleMessage, []Action{Notify()}, typeIs("m.room.message")),
			rule(RuleEncrypted, []Action{Notify()}, typeIs("m.room.encrypted")),
		},
	}}
}

// Upgrade returns stored, a ruleset saved earlier for the same user, laid
// over the current server defaults: every default rule takes its definition
// from Defaults(userID, localpart) but keeps the enabled flag and actions the
// user gave it in stored; defaults that stored lacks are added and stored
// defaults that no longer exist are dropped; user rules keep their order.
// Callers run it on load so that a ruleset saved by an older server picks up
// rules the spec has since added.
func Upgrade(stored Ruleset, userID, localpart string) Ruleset {
	out := Defaults(userID, localpart)
	for _, k := range Kinds() {
		var user []Rule
		saved := make(map[string]Rule)
		for _, r := range *stored.Global.list(k) {
			if r.Default || IsServerDefault(r.RuleID) {
				saved[r.RuleID] = r
			} else {
				user = append(user, r.clone())
			}
		}
		l := out.Global.list(k)
		for i, d := range *l {
			if s, ok := saved[d.RuleID]; ok {
				(*l)[i].Enabled = s.Enabled
				(*l)[i].Actions = stripHistorical(s.Actions)
			}
		}
		at := userRulesStart(*l)
		merged := make([]Rule, 0, len(*l)+len(user))
		merged = append(merged, (*l)[:at]...)
		merged = append(merged, user...)
		*l = append(merged, (*l)[at:]...)
	}
	return out
}
