package pushrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Action names defined by the spec (client-server API, "Push Rules:
// Actions"). The historical ones are recognised only so they can be dropped.
const (
	ActionNotify   = "notify"
	ActionSetTweak = "set_tweak"

	actionDontNotify = "dont_notify"
	actionCoalesce   = "coalesce"
)

// Tweak names defined by the spec.
const (
	TweakSound     = "sound"
	TweakHighlight = "highlight"
)

// Action is one entry of a rule's actions array. On the wire an action without
// parameters is a JSON string ("notify") and set_tweak is an object
// ({"set_tweak": "sound", "value": "default"}).
//
// An object action of a kind this package does not know is kept verbatim so
// that rules written by newer clients survive a round trip; it has an empty
// Name and never affects evaluation.
type Action struct {
	// Name is the action: "notify", "set_tweak", or another string action.
	Name string
	// Tweak is the tweak being set when Name is "set_tweak".
	Tweak string
	// Value is the tweak's value as JSON, or nil when the object has no
	// "value" key (a highlight tweak without a value means true).
	Value json.RawMessage

	raw json.RawMessage
}

// Notify returns the "notify" action.
func Notify() Action { return Action{Name: ActionNotify} }

// SetTweak returns a set_tweak action; value is the tweak's JSON value, or
// nil for none.
func SetTweak(tweak string, value json.RawMessage) Action {
	return Action{Name: ActionSetTweak, Tweak: tweak, Value: value}
}

// MarshalJSON encodes a as the spec's string or object form.
func (a Action) MarshalJSON() ([]byte, error) {
	switch {
	case a.raw != nil:
		return a.raw, nil
	case a.Name == ActionSetTweak:
		return json.Marshal(struct {
			SetTweak string          `json:"set_tweak"`
			Value    json.RawMessage `json:"value,omitzero"`
		}{a.Tweak, a.Value})
	default:
		return json.Marshal(a.Name)
	}
}

// UnmarshalJSON decodes a string or object action. An object with a
// set_tweak key must name the tweak with a string.
func (a *Action) UnmarshalJSON(b []byte) error {
	*a = Action{}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &a.Name)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return errors.New("push rule action must be a string or an object")
	}
	tweak, ok := obj[ActionSetTweak]
	if !ok {
		a.raw = bytes.Clone(b)
		return nil
	}
	if t := bytes.TrimSpace(tweak); len(t) == 0 || t[0] != '"' {
		return fmt.Errorf("set_tweak must be a string, not %s", t)
	}
	if err := json.Unmarshal(tweak, &a.Tweak); err != nil {
		return fmt.Errorf("set_tweak must be a string: %w", err)
	}
	a.Name = ActionSetTweak
	if v, ok := obj["value"]; ok {
		a.Value = bytes.Clone(v)
	}
	return nil
}

// historical reports whether a is dont_notify or coalesce, which the spec
// ("Historical Actions") says servers MUST ignore.
func (a Action) historical() bool {
	return a.raw == nil && (a.Name == actionDontNotify || a.Name == actionCoalesce)
}

// stripHistorical returns actions without the historical actions, always as
// a non-nil slice so that it encodes as [].
func stripHistorical(actions []Action) []Action {
	out := make([]Action, 0, len(actions))
	for _, a := range actions {
		if !a.historical() {
			out = append(out, a)
		}
	}
	return out
}

// validateActions checks actions a client sends: set_tweak needs a tweak name
// and string actions need a name.
func validateActions(actions []Action) error {
	for i, a := range actions {
		if a.raw != nil {
			continue
		}
		if a.Name == "" {
			return invalidParam("action %d is an empty string", i)
		}
		if a.Name == ActionSetTweak && a.Tweak == "" {
			return invalidParam("action %d: set_tweak needs a tweak name", i)
		}
	}
	return nil
}

// Notifies reports whether actions contain "notify", that is whether the
// event counts as a notification.
func Notifies(actions []Action) bool {
	for _, a := range actions {
		if a.raw == nil && a.Name == ActionNotify {
			return true
		}
	}
	return false
}

// Highlights reports whether actions set the highlight tweak to true. The
// spec defines a highlight tweak without a value as true and no highlight
// tweak as false.
func Highlights(actions []Action) bool {
	highlight := false
	for _, a := range actions {
		if a.raw == nil && a.Name == ActionSetTweak && a.Tweak == TweakHighlight {
			// As in Tweaks: no value means true, and the last one wins.
			v := bytes.TrimSpace(a.Value)
			highlight = len(v) == 0 || string(v) == "true"
		}
	}
	return highlight
}

// Tweaks collects the set_tweak actions into the "tweaks" dictionary sent to
// the push gateway. A tweak without a value becomes true; when a tweak is set
// twice the later action wins.
func Tweaks(actions []Action) map[string]json.RawMessage {
	tweaks := make(map[string]json.RawMessage)
	for _, a := range actions {
		if a.raw != nil || a.Name != ActionSetTweak {
			continue
		}
		v := bytes.TrimSpace(a.Value)
		if len(v) == 0 {
			v = []byte("true")
		}
		tweaks[a.Tweak] = v
	}
	return tweaks
}
