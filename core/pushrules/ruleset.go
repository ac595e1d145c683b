// Package pushrules holds a user's push rules: the spec's server-default
// ruleset, the JSON shapes of the /pushrules endpoints and of the
// m.push_rules account data, the edits those endpoints make, and the
// evaluation that decides whether and how an event notifies the user
// (Matrix client-server API v1.12, module "Push Notifications").
//
// The package is pure data and logic: it stores nothing, and callers load a
// Ruleset (or start from [Defaults]), change or evaluate it, and save it
// themselves, typically as the m.push_rules account data. A ruleset that
// evaluates many events is best compiled once with [Compile]; an event that
// is evaluated for many users is best read once with [NewEventViewOf]. Every failure of
// the endpoint operations ([ParseKind], [CheckScope], the Decode functions
// and the Ruleset edits) is an *[Error] carrying the HTTP status and Matrix
// errcode to answer with:
//
//   - 404 M_NOT_FOUND: the named rule does not exist;
//   - 400 M_INVALID_PARAM: a forbidden rule ID, kind, scope, condition or
//     action, placing a rule relative to a server-default one, or deleting a
//     server-default rule;
//   - 400 M_MISSING_PARAM: a required field is absent;
//   - 400 M_UNKNOWN: before or after names no rule (the spec's example);
//   - 400 M_NOT_JSON / M_BAD_JSON: a request body that is not JSON, or not of
//     the right shape.
package pushrules

import "encoding/json"

// Kind is one of the five kinds of push rule, which are checked in the order
// of [Kinds].
type Kind string

// The kinds of rule, as they appear in the ruleset and in endpoint paths.
const (
	KindOverride  Kind = "override"
	KindContent   Kind = "content"
	KindRoom      Kind = "room"
	KindSender    Kind = "sender"
	KindUnderride Kind = "underride"
)

// ScopeGlobal is the only push rule scope the spec defines; it is the
// "global" of /pushrules/global/... and of the ruleset JSON.
const ScopeGlobal = "global"

// Kinds returns the kinds of rule in the order the spec evaluates them.
func Kinds() []Kind {
	return []Kind{KindOverride, KindContent, KindRoom, KindSender, KindUnderride}
}

// ParseKind checks a {kind} path segment, answering 400 M_INVALID_PARAM for
// anything but the five kinds.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if string(k) == s {
			return k, nil
		}
	}
	return "", invalidParam("unknown push rule kind %q", s)
}

// CheckScope checks a {scope} path segment, answering 400 M_INVALID_PARAM for
// anything but "global".
func CheckScope(scope string) error {
	if scope != ScopeGlobal {
		return invalidParam("unknown push rule scope %q", scope)
	}
	return nil
}

// Rule is one push rule as GET /pushrules/ returns it.
//
// Conditions is nil for content, room and sender rules, whose conditions are
// implied by Pattern or RuleID, and non-nil (possibly empty, encoded as [])
// for override and underride rules. Pattern is set for content rules only.
type Rule struct {
	RuleID     string      `json:"rule_id"`
	Default    bool        `json:"default"`
	Enabled    bool        `json:"enabled"`
	Conditions []Condition `json:"conditions,omitzero"`
	Actions    []Action    `json:"actions"`
	Pattern    string      `json:"pattern,omitempty"`
}

// MarshalJSON encodes r, writing a nil Actions as the required [].
func (r Rule) MarshalJSON() ([]byte, error) {
	type plain Rule
	if r.Actions == nil {
		r.Actions = []Action{}
	}
	return json.Marshal(plain(r))
}

// clone returns a deep enough copy of r that editing its slices leaves r
// unchanged.
func (r Rule) clone() Rule {
	if r.Conditions != nil {
		r.Conditions = append([]Condition{}, r.Conditions...)
	}
	r.Actions = append([]Action{}, r.Actions...)
	return r
}

// Rules is the rules of one scope, by kind, each list in priority order: the
// push_ruleset object of the spec and the body of GET /pushrules/global/.
type Rules struct {
	Override  []Rule `json:"override"`
	Content   []Rule `json:"content"`
	Room      []Rule `json:"room"`
	Sender    []Rule `json:"sender"`
	Underride []Rule `json:"underride"`
}

// MarshalJSON encodes rs, writing nil lists as [] so that every kind is
// present, as clients expect.
func (rs Rules) MarshalJSON() ([]byte, error) {
	type plain Rules
	for _, k := range Kinds() {
		if l := rs.list(k); *l == nil {
			*l = []Rule{}
		}
	}
	return json.Marshal(plain(rs))
}

// list returns the list of kind k; k must be one of [Kinds].
func (rs *Rules) list(k Kind) *[]Rule {
	switch k {
	case KindOverride:
		return &rs.Override
	case KindContent:
		return &rs.Content
	case KindRoom:
		return &rs.Room
	case KindSender:
		return &rs.Sender
	default:
		return &rs.Underride
	}
}

// Ruleset is all of a user's push rules: the body of GET /pushrules/ and the
// content of the m.push_rules account data event, {"global": {...}}.
type Ruleset struct {
	Global Rules `json:"global"`
}
