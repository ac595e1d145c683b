package pushrules

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Condition kinds defined by the spec (client-server API, "Push Rules:
// Conditions").
const (
	CondEventMatch                   = "event_match"
	CondEventPropertyIs              = "event_property_is"
	CondEventPropertyContains        = "event_property_contains"
	CondContainsDisplayName          = "contains_display_name"
	CondRoomMemberCount              = "room_member_count"
	CondSenderNotificationPermission = "sender_notification_permission"
)

// Condition is one entry of an override or underride rule's conditions. Which
// fields are meaningful depends on Kind; a condition of an unknown kind is
// kept but never matches, as the spec requires.
type Condition struct {
	// Kind selects the test.
	Kind string `json:"kind"`
	// Key is the dot-separated event property path (event_match,
	// event_property_is, event_property_contains) or the power level
	// notifications key (sender_notification_permission).
	Key string `json:"key,omitempty"`
	// Pattern is the glob of an event_match. It is a pointer because the
	// empty pattern is meaningful: .m.rule.tombstone matches state_key "".
	Pattern *string `json:"pattern,omitempty"`
	// Is is room_member_count's comparison, such as "2" or "<=10".
	Is string `json:"is,omitempty"`
	// Value is the JSON scalar of event_property_is and
	// event_property_contains; nil when absent, "null" for a JSON null.
	Value json.RawMessage `json:"value,omitzero"`
}

// EventMatch returns an event_match condition.
func EventMatch(key, pattern string) Condition {
	return Condition{Kind: CondEventMatch, Key: key, Pattern: &pattern}
}

// validate checks the parameters of a condition a client sends. Conditions of
// unknown kinds pass: they are stored and never match.
func (c Condition) validate() error {
	switch c.Kind {
	case "":
		return missingParam("push condition needs a kind")
	case CondEventMatch:
		if c.Key == "" || c.Pattern == nil {
			return missingParam("%s condition needs key and pattern", c.Kind)
		}
	case CondEventPropertyIs, CondEventPropertyContains:
		if c.Key == "" || c.Value == nil {
			return missingParam("%s condition needs key and value", c.Kind)
		}
		if _, ok := decodeScalar(c.Value); !ok {
			return invalidParam("%s value must be a string, an integer within ±(2^53-1), a boolean or null", c.Kind)
		}
	case CondRoomMemberCount:
		if _, _, ok := parseMemberCount(c.Is); !ok {
			return invalidParam("room_member_count is %q is not an optional ==, <, >, <= or >= followed by a decimal integer", c.Is)
		}
	case CondSenderNotificationPermission:
		if c.Key == "" {
			return missingParam("sender_notification_permission condition needs a key")
		}
	}
	return nil
}

// parseMemberCount splits room_member_count's "is" into its operator and
// number. With no prefix the operator is "==".
func parseMemberCount(is string) (op string, n int64, ok bool) {
	op = "=="
	for _, p := range []string{"==", "<=", ">=", "<", ">"} {
		if rest, found := strings.CutPrefix(is, p); found {
			op, is = p, rest
			break
		}
	}
	if is == "" || strings.TrimLeft(is, "0123456789") != "" {
		return "", 0, false
	}
	n, err := strconv.ParseInt(is, 10, 64)
	return op, n, err == nil
}

// compareCount applies a parsed room_member_count test to count.
func compareCount(op string, n, count int64) bool {
	switch op {
	case "<":
		return count < n
	case ">":
		return count > n
	case "<=":
		return count <= n
	case ">=":
		return count >= n
	default:
		return count == n
	}
}

// maxSafeInt is 2^53-1, the canonical JSON integer bound.
const maxSafeInt = 1<<53 - 1

// scalar is a non-compound canonical JSON value: the only kind
// event_property_is and event_property_contains compare. Two scalars are
// equal exactly when they have the same type and value; no casting.
type scalar struct {
	kind byte // 's' string, 'i' integer, 'b' boolean, 'n' null
	s    string
	i    int64
	b    bool
}

// scalarOf converts a value decoded with json.Decoder.UseNumber to a scalar.
// Objects, arrays, fractions and integers out of range are not scalars.
func scalarOf(v any) (scalar, bool) {
	switch v := v.(type) {
	case nil:
		return scalar{kind: 'n'}, true
	case string:
		return scalar{kind: 's', s: v}, true
	case bool:
		return scalar{kind: 'b', b: v}, true
	case json.Number:
		i, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || i > maxSafeInt || i < -maxSafeInt {
			return scalar{}, false
		}
		return scalar{kind: 'i', i: i}, true
	}
	return scalar{}, false
}

// decodeScalar decodes raw JSON to a scalar.
func decodeScalar(raw json.RawMessage) (scalar, bool) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return scalar{}, false
	}
	return scalarOf(v)
}
