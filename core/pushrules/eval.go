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

// EventView is an event prepared for evaluation, so that one event can be
// checked against the rules of every local member of the room without
// reading it again: its JSON is checked once, its content's top-level
// members are indexed, and values are decoded only when a rule looks them
// up. It is read-only and safe for concurrent use.
type EventView struct {
	obj *view
}

// view is what an EventView holds. NewEventView and NewEventViewOf make
// equal views of an event's JSON and of its fields with the same content
// text.
type view struct {
	// The top-level fields that rules read most, decoded, and which of
	// them the event has. A field whose value is of another type than
	// these is among other.
	id, typ, sender, roomID, stateKey, redacts string
	ts                                         int64
	has                                        fieldSet
	// other are the event's other top-level members: the JSON text of
	// each, the last of each name only.
	other []member
	// content is the JSON text of the content, when has says there is
	// one, and members are its members when it is an object.
	content string
	members []member
	buf     [8]member
}

// fieldSet holds one bit for each decoded field of a view.
type fieldSet uint8

const (
	hasID fieldSet = 1 << iota
	hasType
	hasSender
	hasRoomID
	hasTS
	hasStateKey
	hasRedacts
	hasContent
)

// NewEventView reads eventJSON, a PDU or a client-format event: the rules
// look at type, state_key, sender, content and, for room rules, room_id,
// which client events inside a /sync room section leave out, so pass the
// PDU or an event that has it. Numbers keep their exact text so that
// integers compare exactly.
func NewEventView(eventJSON []byte) (EventView, error) {
	text := string(eventJSON)
	start := skipSpace(text, 0)
	if start == len(text) || text[start] != '{' {
		return EventView{}, eventError(eventJSON)
	}
	top, end, ok := indexObject(text, start, nil)
	if !ok || skipSpace(text, end) != len(text) {
		return EventView{}, eventError(eventJSON)
	}
	v := &view{}
	for i, m := range top {
		if _, later := findMember(top[i+1:], m.name); later {
			continue // encoding/json keeps the last of a name
		}
		if !v.setField(m) {
			v.other = append(v.other, m)
		}
	}
	if v.has&hasContent != 0 && v.content[0] == '{' {
		v.members, _, _ = indexObject(v.content, 0, v.buf[:0])
	}
	return EventView{obj: v}, nil
}

// setField sets the decoded field that m is, reporting false if m is
// not one.
func (v *view) setField(m member) bool {
	if m.name == "content" {
		v.content, v.has = m.value, v.has|hasContent
		return true
	}
	if m.name == "origin_server_ts" {
		ts, err := strconv.ParseInt(m.value, 10, 64)
		if err != nil || strconv.FormatInt(ts, 10) != m.value {
			return false
		}
		v.ts, v.has = ts, v.has|hasTS
		return true
	}
	field, bit := v.stringField(m.name)
	if field == nil {
		return false
	}
	s, ok := rawString(m.value)
	if !ok {
		return false
	}
	*field, v.has = s, v.has|bit
	return true
}

// stringField returns the decoded string field called name and its bit,
// or nil if name is not one.
func (v *view) stringField(name string) (*string, fieldSet) {
	switch name {
	case "event_id":
		return &v.id, hasID
	case "type":
		return &v.typ, hasType
	case "sender":
		return &v.sender, hasSender
	case "room_id":
		return &v.roomID, hasRoomID
	case "state_key":
		return &v.stateKey, hasStateKey
	case "redacts":
		return &v.redacts, hasRedacts
	}
	return nil, 0
}

// eventError returns the error with which encoding/json refuses
// eventJSON as an event.
func eventError(eventJSON []byte) error {
	d := json.NewDecoder(bytes.NewReader(eventJSON))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return fmt.Errorf("pushrules: decoding event: %w", err)
	}
	if obj == nil {
		return errors.New("pushrules: event is null, not an object")
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("pushrules: data after the event's JSON object")
	}
	return errors.New("pushrules: decoding event: invalid JSON")
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
// hand, as a parsed PDU's are: only the content is read. Content is read
// as json.Decoder.Decode reads its first value; empty content is null.
func NewEventViewOf(f Fields) (EventView, error) {
	v := &view{id: f.ID, typ: f.Type, sender: f.Sender, roomID: f.RoomID, ts: f.TS, content: "null",
		has: hasID | hasType | hasSender | hasRoomID | hasTS | hasContent}
	if len(f.Content) > 0 {
		var ok bool
		if v.content, v.members, ok = firstValue(string(f.Content), v.buf[:0]); !ok {
			return EventView{}, contentError(f.Content)
		}
	}
	if f.StateKey != nil {
		v.stateKey, v.has = *f.StateKey, v.has|hasStateKey
	}
	if f.Redacts != "" {
		v.redacts, v.has = f.Redacts, v.has|hasRedacts
	}
	return EventView{obj: v}, nil
}

// contentError returns the error with which encoding/json refuses
// content.
func contentError(content []byte) error {
	d := json.NewDecoder(bytes.NewReader(content))
	d.UseNumber()
	var c any
	if err := d.Decode(&c); err != nil {
		return fmt.Errorf("pushrules: decoding content: %w", err)
	}
	return errors.New("pushrules: decoding content: invalid JSON")
}

// value is a property of a view: a decoded string or integer field, or
// JSON text.
type value struct {
	kind byte // 's' a string field, 'i' origin_server_ts, 'j' JSON text
	s    string
	i    int64
	raw  string
}

// string returns the value if it is a string.
func (x value) string() (string, bool) {
	switch x.kind {
	case 's':
		return x.s, true
	case 'j':
		return rawString(x.raw)
	}
	return "", false
}

// scalar returns the value as a scalar, false if it is not one.
func (x value) scalar() (scalar, bool) {
	switch x.kind {
	case 's':
		return scalar{kind: 's', s: x.s}, true
	case 'i':
		return scalarOf(json.Number(strconv.FormatInt(x.i, 10)))
	}
	return rawScalar(x.raw)
}

// decode returns the value as encoding/json decodes it with UseNumber.
func (x value) decode() any {
	switch x.kind {
	case 's':
		return x.s
	case 'i':
		return json.Number(strconv.FormatInt(x.i, 10))
	}
	return decodeRaw(x.raw)
}

// find returns the property at path, a split dot-separated path, and
// whether it exists.
func (v *view) find(path []string) (value, bool) {
	if v == nil || len(path) == 0 {
		return value{}, false
	}
	name, rest := path[0], path[1:]
	var raw string
	var found bool
	if field, bit := v.stringField(name); field != nil && v.has&bit != 0 {
		return value{kind: 's', s: *field}, len(rest) == 0
	}
	switch {
	case name == "origin_server_ts" && v.has&hasTS != 0:
		return value{kind: 'i', i: v.ts}, len(rest) == 0
	case name == "content":
		if v.has&hasContent == 0 {
			return value{}, false
		}
		if len(rest) == 0 {
			return value{kind: 'j', raw: v.content}, true
		}
		raw, found = findMember(v.members, rest[0])
		rest = rest[1:]
	default:
		raw, found = findMember(v.other, name)
	}
	for _, p := range rest {
		if !found {
			break
		}
		raw, found = objectMember(raw, p)
	}
	return value{kind: 'j', raw: raw}, found
}

// contentHas reports whether the content is an object with a member
// called name.
func (v *view) contentHas(name string) bool {
	if v == nil {
		return false
	}
	_, ok := findMember(v.members, name)
	return ok
}

// body returns content.body and whether it is a string.
func (v *view) body() (string, bool) {
	if v == nil {
		return "", false
	}
	raw, ok := findMember(v.members, "body")
	if !ok {
		return "", false
	}
	return rawString(raw)
}

// Property returns the value at a dot-separated property path, such as
// `content.m\.relates_to.rel_type`, as decoded by encoding/json with
// UseNumber, and whether the property exists.
func (v EventView) Property(key string) (any, bool) {
	x, ok := v.obj.find(cachedPath(key))
	if !ok {
		return nil, false
	}
	return x.decode(), true
}

// str returns the top-level string field called name, which must be one
// of the decoded ones, or "" if it is absent or not a string.
func (v *view) str(name string) string {
	if v == nil {
		return ""
	}
	if field, bit := v.stringField(name); field != nil && v.has&bit != 0 {
		return *field
	}
	return ""
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

// Compiled is a ruleset prepared for evaluating many events: its enabled
// rules in evaluation order, with their globs compiled, property paths
// split and values decoded once. It is read-only and safe for concurrent
// use.
type Compiled struct {
	rules []compiledRule
}

// compiledRule is one enabled rule of a Compiled.
type compiledRule struct {
	match Match
	// actions are the rule's actions without the historical ones.
	actions []Action
	// legacy is set for the deprecated mention rules, which events with
	// m.mentions skip.
	legacy bool
	// pattern is a content rule's pattern.
	pattern *glob
	conds   []compiledCond
}

// compiledCond is one condition of an override or underride rule.
type compiledCond struct {
	kind string
	// usable is false for a condition that never matches: an unknown
	// kind, or missing or invalid parameters.
	usable bool
	path   []string
	// glob is event_match's pattern; words is set when it applies on word
	// boundaries, for content.body.
	glob  *glob
	words bool
	// want is the value of event_property_is and event_property_contains.
	want scalar
	// op and n are room_member_count's comparison.
	op string
	n  int64
	// key is sender_notification_permission's key.
	key string
}

// Compile prepares rs for evaluation. It copies the rules' lists of
// conditions and actions, so later edits of rs do not change the result.
func Compile(rs Ruleset) *Compiled {
	n, nconds := 0, 0
	for _, k := range Kinds() {
		for _, r := range *rs.Global.list(k) {
			if r.Enabled {
				n++
				if k == KindOverride || k == KindUnderride {
					nconds += len(r.Conditions)
				}
			}
		}
	}
	c := &Compiled{rules: make([]compiledRule, 0, n)}
	conds := make([]compiledCond, 0, nconds)
	for _, k := range Kinds() {
		for _, r := range *rs.Global.list(k) {
			if !r.Enabled {
				continue
			}
			cr := compiledRule{
				match:   Match{Kind: k, Rule: r.clone()},
				actions: stripHistorical(r.Actions),
				legacy:  IsServerDefault(r.RuleID) && legacyMentionRule(r.RuleID),
			}
			switch k {
			case KindContent:
				cr.pattern = cachedGlob(r.Pattern)
			case KindOverride, KindUnderride:
				start := len(conds)
				for _, cond := range r.Conditions {
					conds = append(conds, compileCondition(cond))
				}
				cr.conds = conds[start:len(conds):len(conds)]
			}
			c.rules = append(c.rules, cr)
		}
	}
	return c
}

// compileCondition prepares one condition.
func compileCondition(c Condition) compiledCond {
	cc := compiledCond{kind: c.Kind}
	switch c.Kind {
	case CondEventMatch:
		if c.Pattern != nil {
			cc.usable, cc.path, cc.glob = true, cachedPath(c.Key), cachedGlob(*c.Pattern)
			cc.words = slices.Equal(cc.path, []string{"content", "body"})
		}
	case CondEventPropertyIs, CondEventPropertyContains:
		cc.path = cachedPath(c.Key)
		cc.want, cc.usable = cachedScalar(c.Value)
	case CondContainsDisplayName:
		cc.usable = true
	case CondRoomMemberCount:
		cc.op, cc.n, cc.usable = parseMemberCount(c.Is)
	case CondSenderNotificationPermission:
		cc.key, cc.usable = c.Key, c.Key != ""
	}
	return cc
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
//
// To evaluate many events against one ruleset, [Compile] it once.
func Evaluate(rs Ruleset, ev EventView, ctx Context) ([]Action, *Match) {
	e := evaluation{ev: ev.obj, ctx: &ctx}
	if e.own() {
		return nil, nil
	}
	hasMentions := e.ev.contentHas("m.mentions")
	for _, k := range Kinds() {
		for _, r := range *rs.Global.list(k) {
			if !r.Enabled || hasMentions && IsServerDefault(r.RuleID) && legacyMentionRule(r.RuleID) {
				continue
			}
			if e.ruleMatches(k, r) {
				return stripHistorical(r.Actions), &Match{Kind: k, Rule: r.clone()}
			}
		}
	}
	return nil, nil
}

// Evaluate is [Evaluate] with c's rules. The actions and the Match it
// returns belong to c and are the same for every event that the same rule
// decides: callers must not modify them.
func (c *Compiled) Evaluate(ev EventView, ctx Context) ([]Action, *Match) {
	e := evaluation{ev: ev.obj, ctx: &ctx}
	if e.own() {
		return nil, nil
	}
	hasMentions := e.ev.contentHas("m.mentions")
	for i := range c.rules {
		r := &c.rules[i]
		if !(hasMentions && r.legacy) && e.compiledRuleMatches(r) {
			return r.actions, &r.match
		}
	}
	return nil, nil
}

// evaluation is the evaluation of one event for one user.
type evaluation struct {
	ev  *view
	ctx *Context
	// body is content.body, once bodyRead is set; bodyOK when it is a
	// string.
	body             string
	bodyRead, bodyOK bool
}

// contentBody returns content.body and whether it is a string, decoding it
// once per evaluation.
func (e *evaluation) contentBody() (string, bool) {
	if !e.bodyRead {
		e.body, e.bodyOK = e.ev.body()
		e.bodyRead = true
	}
	return e.body, e.bodyOK
}

// own reports whether the event is the user's own, which never matches.
func (e *evaluation) own() bool {
	return e.ctx.UserID != "" && e.ev.str("sender") == e.ctx.UserID
}

// compiledRuleMatches applies the explicit conditions of override and
// underride rules and the implied ones of content, room and sender rules.
func (e *evaluation) compiledRuleMatches(r *compiledRule) bool {
	switch r.match.Kind {
	case KindContent:
		body, ok := e.contentBody()
		return ok && r.pattern.matchWords(body)
	case KindRoom, KindSender:
		return e.ruleMatches(r.match.Kind, r.match.Rule)
	}
	for i := range r.conds {
		if !e.condition(&r.conds[i]) {
			return false
		}
	}
	return true
}

// ruleMatches is compiledRuleMatches for a rule not compiled.
func (e *evaluation) ruleMatches(k Kind, r Rule) bool {
	switch k {
	case KindContent:
		body, ok := e.contentBody()
		return ok && cachedGlob(r.Pattern).matchWords(body)
	case KindRoom:
		return e.ev.str("room_id") == r.RuleID
	case KindSender:
		return e.ev.str("sender") == r.RuleID
	}
	for _, c := range r.Conditions {
		if cc := compileCondition(c); !e.condition(&cc) {
			return false
		}
	}
	return true
}

// condition applies one condition; unknown kinds and missing
// parameters never match.
func (e *evaluation) condition(c *compiledCond) bool {
	if !c.usable {
		return false
	}
	switch c.kind {
	case CondEventMatch:
		var s string
		var ok bool
		if c.words {
			s, ok = e.contentBody()
		} else if v, found := e.ev.find(c.path); found {
			s, ok = v.string()
		}
		if !ok {
			return false
		}
		if c.words {
			return c.glob.matchWords(s)
		}
		return c.glob.match(s)
	case CondEventPropertyIs:
		v, found := e.ev.find(c.path)
		if !found {
			return false
		}
		got, ok := v.scalar()
		return ok && got == c.want
	case CondEventPropertyContains:
		v, found := e.ev.find(c.path)
		if !found || v.kind != 'j' || v.raw[0] != '[' {
			return false
		}
		matched := false
		forEachElement(v.raw, func(elem string) bool {
			got, ok := rawScalar(elem)
			matched = ok && got == c.want
			return !matched
		})
		return matched
	case CondContainsDisplayName:
		body, ok := e.contentBody()
		return ok && e.ctx.DisplayName != "" && cachedLiteral(e.ctx.DisplayName).matchWords(body)
	case CondRoomMemberCount:
		return compareCount(c.op, c.n, e.ctx.MemberCount)
	case CondSenderNotificationPermission:
		level, ok := e.ctx.NotificationPowerLevels[c.key]
		if !ok && c.key == "room" {
			level, ok = defaultRoomNotificationLevel, true
		}
		return ok && e.ctx.SenderPowerLevel >= level
	}
	return false
}

// conditionMatches applies one condition to ev.
func conditionMatches(c Condition, ev EventView, ctx Context) bool {
	cc := compileCondition(c)
	e := evaluation{ev: ev.obj, ctx: &ctx}
	return e.condition(&cc)
}
