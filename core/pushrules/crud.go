package pushrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hearth/core/matrixerr"
	"net/http"
	"strings"
)

// This file implements the edits of the client-server API v1.12 endpoints
// under /pushrules/global/{kind}/{ruleId}. Every edit builds new slices, so a
// copy of the Ruleset taken before the edit is left as it was.

// checkKind rejects a Kind that is not one of the five.
func checkKind(k Kind) error {
	_, err := ParseKind(string(k))
	return err
}

// find returns the index of rule id in list, or -1.
func find(list []Rule, id string) int {
	for i, r := range list {
		if r.RuleID == id {
			return i
		}
	}
	return -1
}

// userRulesStart is where the most important user rule of a list goes: after
// .m.rule.master, which the spec ranks above every other rule, and before
// all the other server-default rules, which rank below user rules.
func userRulesStart(list []Rule) int {
	i := 0
	for i < len(list) && list[i].RuleID == RuleMaster {
		i++
	}
	return i
}

// Rule returns a copy of the rule of kind k with ID id (GET
// /pushrules/global/{kind}/{ruleId}, and the enabled and actions
// sub-resources), or 404 M_NOT_FOUND.
func (rs *Ruleset) Rule(k Kind, id string) (Rule, error) {
	if err := checkKind(k); err != nil {
		return Rule{}, err
	}
	list := *rs.Global.list(k)
	i := find(list, id)
	if i < 0 {
		return Rule{}, notFound(k, id)
	}
	return list[i].clone(), nil
}

// RuleBody is the request body of PUT /pushrules/global/{kind}/{ruleId}.
type RuleBody struct {
	// Actions is required.
	Actions []Action `json:"actions"`
	// Conditions applies to override and underride rules only.
	Conditions []Condition `json:"conditions"`
	// Pattern applies to, and is required for, content rules.
	Pattern *string `json:"pattern"`
}

// DecodeRuleBody decodes the body of PUT /pushrules/global/{kind}/{ruleId}:
// 400 M_NOT_JSON if it is not JSON, 400 M_BAD_JSON if it is not an object of
// the right shape. Whether the fields suit the kind is checked by Put.
func DecodeRuleBody(raw []byte) (RuleBody, error) {
	var b RuleBody
	err := decodeObject(raw, &b)
	return b, err
}

// DecodeEnabledBody decodes the body of PUT
// /pushrules/global/{kind}/{ruleId}/enabled, {"enabled": bool}; enabled is
// required (400 M_MISSING_PARAM).
func DecodeEnabledBody(raw []byte) (bool, error) {
	var b struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeObject(raw, &b); err != nil {
		return false, err
	}
	if b.Enabled == nil {
		return false, missingParam("enabled is required")
	}
	return *b.Enabled, nil
}

// DecodeActionsBody decodes the body of PUT
// /pushrules/global/{kind}/{ruleId}/actions, {"actions": [...]}; actions is
// required (400 M_MISSING_PARAM).
func DecodeActionsBody(raw []byte) ([]Action, error) {
	var b struct {
		Actions []Action `json:"actions"`
	}
	if err := decodeObject(raw, &b); err != nil {
		return nil, err
	}
	if b.Actions == nil {
		return nil, missingParam("actions is required")
	}
	return b.Actions, nil
}

// decodeObject decodes a request body that must be a JSON object into v.
func decodeObject(raw []byte, v any) error {
	if !json.Valid(raw) {
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeNotJSON, "request body is not JSON")
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "request body must be a JSON object")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return matrixerr.WithCause(matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "malformed push rule request: %v", err), err)
	}
	return nil
}

// checkNewRuleID applies the spec's constraints on a rule ID a client
// creates: not empty, not starting with "." (reserved for server-default
// rules), no "/" or "\"; a room rule's ID is a room ID and a sender rule's a
// user ID.
func checkNewRuleID(k Kind, id string) error {
	switch {
	case id == "":
		return invalidParam("push rule ID must not be empty")
	case IsServerDefault(id):
		return invalidParam("push rule ID %q starts with \".\", which is reserved for server-default rules", id)
	case strings.ContainsAny(id, `/\`):
		return invalidParam("push rule ID %q contains a slash or backslash", id)
	case k == KindRoom && !strings.HasPrefix(id, "!"):
		return invalidParam("room push rule ID %q is not a room ID", id)
	case k == KindSender && !strings.HasPrefix(id, "@"):
		return invalidParam("sender push rule ID %q is not a user ID", id)
	}
	return nil
}

// Put creates or replaces the user rule of kind k with ID id (PUT
// /pushrules/global/{kind}/{ruleId}).
//
// A new rule is enabled and goes where before or after put it or, with
// neither, first among the user rules of its kind; a replaced rule keeps its
// enabled flag and, with neither, its place. When both are given, before
// wins, as the spec says. before and after must name another user rule of
// the same kind.
//
// Errors: 400 M_INVALID_PARAM for an ID starting with "." or containing "/"
// or "\", a room rule ID that is not a room ID, a sender rule ID that is not
// a user ID, an invalid condition or action, or before/after naming a
// server-default rule; 400 M_MISSING_PARAM for missing actions, a content
// rule without a pattern, or a condition without its parameters; 400
// M_UNKNOWN "before/after rule not found" (the spec's example) when before
// or after names no rule.
func (rs *Ruleset) Put(k Kind, id string, body RuleBody, before, after string) error {
	if err := checkKind(k); err != nil {
		return err
	}
	if err := checkNewRuleID(k, id); err != nil {
		return err
	}
	if body.Actions == nil {
		return missingParam("actions is required")
	}
	if err := validateActions(body.Actions); err != nil {
		return err
	}
	r := Rule{RuleID: id, Enabled: true, Actions: stripHistorical(body.Actions)}
	switch k {
	case KindContent:
		if body.Pattern == nil || *body.Pattern == "" {
			return missingParam("content push rule needs a non-empty pattern")
		}
		r.Pattern = *body.Pattern
	case KindOverride, KindUnderride:
		r.Conditions = append([]Condition{}, body.Conditions...)
		for i, c := range r.Conditions {
			if err := c.validate(); err != nil {
				var e matrixerr.Error
				if errors.As(err, &e) {
					e.Message = fmt.Sprintf("condition %d: %s", i, e.Message)
					return e
				}
				return err
			}
		}
	}

	old := *rs.Global.list(k)
	list := make([]Rule, 0, len(old)+1)
	at := -1
	for i, o := range old {
		if o.RuleID == id {
			r.Enabled = o.Enabled
			at = i
			continue
		}
		list = append(list, o)
	}
	anchor, offset := before, 0
	if anchor == "" && after != "" {
		anchor, offset = after, 1
	}
	switch {
	case anchor != "":
		if IsServerDefault(anchor) {
			return invalidParam("cannot place a rule relative to server-default rule %q", anchor)
		}
		i := find(list, anchor)
		if i < 0 {
			return matrixerr.New(http.StatusBadRequest, matrixerr.CodeUnknown, "before/after rule not found: %s", anchor)
		}
		at = i + offset
	case at < 0:
		at = userRulesStart(list)
	}
	list = append(list[:at], append([]Rule{r}, list[at:]...)...)
	*rs.Global.list(k) = list
	return nil
}

// Delete removes the user rule of kind k with ID id (DELETE
// /pushrules/global/{kind}/{ruleId}): 404 M_NOT_FOUND if there is none, 400
// M_INVALID_PARAM for a server-default rule, which cannot be deleted (only
// disabled).
func (rs *Ruleset) Delete(k Kind, id string) error {
	if err := checkKind(k); err != nil {
		return err
	}
	old := *rs.Global.list(k)
	i := find(old, id)
	if i < 0 {
		return notFound(k, id)
	}
	if old[i].Default || IsServerDefault(id) {
		return invalidParam("server-default push rule %s cannot be deleted", id)
	}
	list := make([]Rule, 0, len(old)-1)
	list = append(list, old[:i]...)
	*rs.Global.list(k) = append(list, old[i+1:]...)
	return nil
}

// SetEnabled enables or disables the rule of kind k with ID id, server-default
// rules included (PUT /pushrules/global/{kind}/{ruleId}/enabled); 404
// M_NOT_FOUND if there is none.
func (rs *Ruleset) SetEnabled(k Kind, id string, enabled bool) error {
	return rs.edit(k, id, func(r *Rule) { r.Enabled = enabled })
}

// SetActions replaces the actions of the rule of kind k with ID id,
// server-default rules included (PUT /pushrules/global/{kind}/{ruleId}/actions).
// Historical actions are dropped. Errors: 404 M_NOT_FOUND if there is no such
// rule, 400 M_MISSING_PARAM for nil actions, 400 M_INVALID_PARAM for an
// invalid action.
func (rs *Ruleset) SetActions(k Kind, id string, actions []Action) error {
	if actions == nil {
		return missingParam("actions is required")
	}
	if err := validateActions(actions); err != nil {
		return err
	}
	return rs.edit(k, id, func(r *Rule) { r.Actions = stripHistorical(actions) })
}

// edit applies change to a copy of the rule of kind k with ID id and stores
// the copy in a new list.
func (rs *Ruleset) edit(k Kind, id string, change func(*Rule)) error {
	if err := checkKind(k); err != nil {
		return err
	}
	old := *rs.Global.list(k)
	i := find(old, id)
	if i < 0 {
		return notFound(k, id)
	}
	list := append([]Rule{}, old...)
	list[i] = list[i].clone()
	change(&list[i])
	*rs.Global.list(k) = list
	return nil
}
