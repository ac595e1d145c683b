package pushrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// EventView is an event prepared for evaluation: its JSON decoded once, so
// that one event can be checked against the rules of every local member of
// the room without decoding it again.
type EventView struct {
	obj map[string]any
}

// NewEventView decodes eventJSON, a PDU or a client-format event: the rules
// look at type, state_key, sender, content and, for room rules, room_id,
// which client events inside a /sync room section leave out, so pass the
// PDU or an event that has it. Numbers keep their exact text so that
// integers compare exactly.
func NewEventView(eventJSON []byte) (EventView, error) {
	d := json.NewDecoder(bytes.NewReader(eventJSON))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return EventView{}, fmt.Errorf("pushrules: decoding event: %w", err)
	}
	if obj == nil {
		return EventView{}, errors.New("pushrules: event is null, not an object")
	}
	if _, err := d.Token(); err != io.EOF {
		return EventView{}, errors.New("pushrules: data after the event's JSON object")
	}
	return EventView{obj: obj}, nil
}

// Fields are the top-level fields of an event that push rules look at.
type Fields struct {
	ID       string
	Type     string
	Sender   string
	RoomID   string
	TS       int64
	StateKey *string // nil for a non-state event
	Redacts  string  // "" when absent
	Content  json.RawMessage
}

// NewEventViewOf is NewEventView for an event whose fields are already at
// hand, as a parsed PDU's are: only the content is decoded.
func NewEventViewOf(f Fields) (EventView, error) {
	obj := map[string]any{
		"event_id":         f.ID,
		"type":             f.Type,
		"sender":           f.Sender,
		"room_id":          f.RoomID,
		"origin_server_ts": json.Number(strconv.FormatInt(f.TS, 10)),
	}
	if f.StateKey != nil {
		obj["state_key"] = *f.StateKey
	}
	if f.Redacts != "" {
		obj["redacts"] = f.Redacts
	}
	content := f.Content
	if len(content) == 0 {
		content = json.RawMessage("null")
	}
	d := json.NewDecoder(bytes.NewReader(content))
	d.UseNumber()
	var c any
	if err := d.Decode(&c); err != nil {
		return EventView{}, fmt.Errorf("pushrules: decoding content: %w", err)
	}
	obj["content"] = c
	return EventView{obj: obj}, nil
}

// Property returns the value at a dot-separated property path, such as
// `content.m\.relates_to.rel_type`, as decoded by encoding/json with
// UseNumber, and whether the property exists.
func (v EventView) Property(key string) (any, bool) {
	return lookup(v.obj, cachedPath(key))
}

// str returns a top-level string field, or "" if absent or not a string.
func (v EventView) str(name string) string {
	s, _ := v.obj[name].(string)
	return s
}

// body returns content.body and whether it is a string.
func (v EventView) body() (string, bool) {
	b, ok := lookup(v.obj, []string{"content", "body"})
	s, isString := b.(string)
	return s, ok && isString
}

// defaultRoomNotificationLevel is the power level m.room.power_levels
// requires for @room notifications when its notifications object has no
// "room" key.
const defaultRoomNotificationLevel = 50

// Context is what evaluation needs to know beyond the event itself, all
// taken from the room state before the event.
type Context struct {
	// UserID is the owner of the ruleset. Events they sent never match: the
	// spec forbids notifying users of their own events.
	UserID string
	// DisplayName is the owner's display name in the room, "" if none;
	// contains_display_name never matches an empty name.
	DisplayName string
	// MemberCount is the number of joined members, for room_member_count.
	MemberCount int64
	// SenderPowerLevel is the sender's power level in the room.
	SenderPowerLevel int64
	// NotificationPowerLevels is the "notifications" object of the room's
	// m.room.power_levels content. A missing "room" entry means the spec's
	// default of 50; other missing keys make sender_notification_permission
	// fail.
	NotificationPowerLevels map[string]int64
}

// Match identifies the rule that decided an evaluation.
type Match struct {
	Kind Kind
	Rule Rule
}

// Evaluate runs the rules of rs against ev in the spec's priority order
// (override, content, room, sender, underride; list order within a kind) and
// returns the actions of the first enabled rule that matches, historical
// actions removed, and that rule. With no match, or for the owner's own
// event, it returns nil, nil and the event must not be pushed.
//
// The rules v1.7 deprecated (.m.rule.contains_display_name,
// .m.rule.roomnotif, .m.rule.contains_user_name) are skipped for events
// whose content has an m.mentions property, as the spec directs.
func Evaluate(rs Ruleset, ev EventView, ctx Context) ([]Action, *Match) {
	if ctx.UserID != "" && ev.str("sender") == ctx.UserID {
		return nil, nil
	}
	_, hasMentions := lookup(ev.obj, []string{"content", "m.mentions"})
	for _, k := range Kinds() {
		for _, r := range *rs.Global.list(k) {
			if !r.Enabled || hasMentions && IsServerDefault(r.RuleID) && legacyMentionRule(r.RuleID) {
				continue
			}
			if ruleMatches(k, r, ev, ctx) {
				return stripHistorical(r.Actions), &Match{Kind: k, Rule: r.clone()}
			}
		}
	}
	return nil, nil
}

// ruleMatches applies the explicit conditions of override and underride
// rules and the implied ones of content, room and sender rules.
func ruleMatches(k Kind, r Rule, ev EventView, ctx Context) bool {
	switch k {
	case KindContent:
		body, ok := ev.body()
		return ok && cachedGlob(r.Pattern).matchWords(body)
	case KindRoom:
		return ev.str("room_id") == r.RuleID
	case KindSender:
		return ev.str("sender") == r.RuleID
	}
	for _, c := range r.Conditions {
		if !conditionMatches(c, ev, ctx) {
			return false
		}
	}
	return true
}

// conditionMatches applies one condition; unknown kinds and missing
// parameters never match.
func conditionMatches(c Condition, ev EventView, ctx Context) bool {
	switch c.Kind {
	case CondEventMatch:
		if c.Pattern == nil {
			return false
		}
		path := cachedPath(c.Key)
		v, _ := lookup(ev.obj, path)
		s, ok := v.(string)
		if !ok {
			return false
		}
		g := cachedGlob(*c.Pattern)
		if slices.Equal(path, []string{"content", "body"}) {
			return g.matchWords(s)
		}
		return g.match(s)
	case CondEventPropertyIs:
		want, ok := cachedScalar(c.Value)
		if !ok {
			return false
		}
		v, found := lookup(ev.obj, cachedPath(c.Key))
		got, ok := scalarOf(v)
		return found && ok && got == want
	case CondEventPropertyContains:
		want, ok := cachedScalar(c.Value)
		if !ok {
			return false
		}
		v, _ := lookup(ev.obj, cachedPath(c.Key))
		arr, _ := v.([]any)
		for _, e := range arr {
			if got, ok := scalarOf(e); ok && got == want {
				return true
			}
		}
		return false
	case CondContainsDisplayName:
		body, ok := ev.body()
		return ok && ctx.DisplayName != "" && cachedLiteral(ctx.DisplayName).matchWords(body)
	case CondRoomMemberCount:
		op, n, ok := parseMemberCount(c.Is)
		return ok && compareCount(op, n, ctx.MemberCount)
	case CondSenderNotificationPermission:
		level, ok := ctx.NotificationPowerLevels[c.Key]
		if !ok && c.Key == "room" {
			level, ok = defaultRoomNotificationLevel, true
		}
		return ok && c.Key != "" && ctx.SenderPowerLevel >= level
	}
	return false
}
