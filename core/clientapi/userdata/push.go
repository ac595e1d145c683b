package userdata

import (
	"net/http"
	"strconv"

	"hearth/core/clientapi"
	"hearth/core/clientevent"
	"hearth/core/matrixerr"
	"hearth/core/notifications"
	"hearth/core/pushrules"
)

func (h *Handlers) getPushRules(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	rs, err := h.cfg.Notifications.Rules(r.Context(), c.UserID)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, rs)
}

func (h *Handlers) getPushRulesScope(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	if err := pushrules.CheckScope(r.PathValue("scope")); err != nil {
		writeError(w, err)
		return
	}
	rs, err := h.cfg.Notifications.Rules(r.Context(), c.UserID)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, rs.Global)
}

// ruleTarget reads the scope and kind of a rule path.
func ruleTarget(r *http.Request) (pushrules.Kind, string, error) {
	if err := pushrules.CheckScope(r.PathValue("scope")); err != nil {
		return "", "", err
	}
	k, err := pushrules.ParseKind(r.PathValue("kind"))
	if err != nil {
		return "", "", err
	}
	return k, r.PathValue("ruleId"), nil
}

// getRule serves the GET endpoints of one rule, showing what view picks of
// it.
func (h *Handlers) getRule(view func(pushrules.Rule) any) handler {
	return func(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
		k, id, err := ruleTarget(r)
		if err != nil {
			writeError(w, err)
			return
		}
		rs, err := h.cfg.Notifications.Rules(r.Context(), c.UserID)
		if err != nil {
			writeError(w, err)
			return
		}
		rule, err := rs.Rule(k, id)
		if err != nil {
			writeError(w, err)
			return
		}
		clientapi.WriteJSON(w, http.StatusOK, view(rule))
	}
}

// editRule serves the PUT and DELETE endpoints of one rule: edit gets the
// request body (when body is set) and changes the ruleset.
func (h *Handlers) editRule(body bool, edit func(rs *pushrules.Ruleset, k pushrules.Kind, id string, raw []byte, r *http.Request) error) handler {
	return func(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
		k, id, err := ruleTarget(r)
		if err != nil {
			writeError(w, err)
			return
		}
		var raw []byte
		if body {
			if raw, err = clientapi.ReadJSONBody(w, r); err != nil {
				writeError(w, err)
				return
			}
		}
		err = h.cfg.Notifications.EditRules(r.Context(), c.UserID, func(rs *pushrules.Ruleset) error {
			return edit(rs, k, id, raw, r)
		})
		if err != nil {
			writeError(w, err)
			return
		}
		clientapi.WriteJSON(w, http.StatusOK, empty)
	}
}

func (h *Handlers) getPushRule(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.getRule(func(rule pushrules.Rule) any { return rule })(w, r, c)
}

func (h *Handlers) getPushRuleEnabled(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.getRule(func(rule pushrules.Rule) any { return map[string]bool{"enabled": rule.Enabled} })(w, r, c)
}

func (h *Handlers) getPushRuleActions(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.getRule(func(rule pushrules.Rule) any {
		actions := rule.Actions
		if actions == nil {
			actions = []pushrules.Action{}
		}
		return map[string][]pushrules.Action{"actions": actions}
	})(w, r, c)
}

func (h *Handlers) putPushRule(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.editRule(true, func(rs *pushrules.Ruleset, k pushrules.Kind, id string, raw []byte, r *http.Request) error {
		body, err := pushrules.DecodeRuleBody(raw)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		return rs.Put(k, id, body, q.Get("before"), q.Get("after"))
	})(w, r, c)
}

func (h *Handlers) deletePushRule(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.editRule(false, func(rs *pushrules.Ruleset, k pushrules.Kind, id string, _ []byte, _ *http.Request) error {
		return rs.Delete(k, id)
	})(w, r, c)
}

func (h *Handlers) putPushRuleEnabled(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.editRule(true, func(rs *pushrules.Ruleset, k pushrules.Kind, id string, raw []byte, _ *http.Request) error {
		enabled, err := pushrules.DecodeEnabledBody(raw)
		if err != nil {
			return err
		}
		return rs.SetEnabled(k, id, enabled)
	})(w, r, c)
}

func (h *Handlers) putPushRuleActions(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	h.editRule(true, func(rs *pushrules.Ruleset, k pushrules.Kind, id string, raw []byte, _ *http.Request) error {
		actions, err := pushrules.DecodeActionsBody(raw)
		if err != nil {
			return err
		}
		return rs.SetActions(k, id, actions)
	})(w, r, c)
}

func (h *Handlers) getPushers(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	ps, err := h.cfg.Notifications.Pushers(r.Context(), c.UserID)
	if err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string][]notifications.Pusher{"pushers": ps})
}

func (h *Handlers) setPusher(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var req notifications.PusherRequest
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := h.cfg.Notifications.SetPusher(r.Context(), c.UserID, c.DeviceID, req); err != nil {
		writeError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

// Limits of GET /notifications pages.
const (
	defaultNotificationsLimit = 50
	maxNotificationsLimit     = 1000
)

// notificationJSON is one entry of GET /notifications.
type notificationJSON struct {
	Actions any    `json:"actions"`
	Event   any    `json:"event"`
	Read    bool   `json:"read"`
	RoomID  string `json:"room_id"`
	TS      int64  `json:"ts"`
}

func (h *Handlers) getNotifications(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	q := r.URL.Query()
	var from uint64
	if s := q.Get("from"); s != "" {
		var err error
		if from, err = strconv.ParseUint(s, 10, 64); err != nil {
			writeError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "from is not a token from this endpoint"))
			return
		}
	}
	limit, err := clientapi.QueryInt(r, "limit", defaultNotificationsLimit)
	if err != nil {
		writeError(w, err)
		return
	}
	limit = max(min(limit, maxNotificationsLimit), 1)
	only := q.Get("only")
	list, next, err := h.cfg.Notifications.List(r.Context(), c.UserID, from, int(limit), only == "highlight")
	if err != nil {
		writeError(w, err)
		return
	}
	nowMS := h.cfg.Now().UnixMilli()
	out := struct {
		NextToken     string             `json:"next_token,omitempty"`
		Notifications []notificationJSON `json:"notifications"`
	}{Notifications: []notificationJSON{}}
	for _, n := range list {
		ev, err := clientevent.Format(n.Event, clientevent.Options{NowMS: nowMS, RedactedBy: n.RedactedBy})
		if err != nil {
			writeError(w, err)
			return
		}
		out.Notifications = append(out.Notifications, notificationJSON{Actions: n.Actions, Event: ev, Read: n.Read, RoomID: n.RoomID, TS: n.TS})
	}
	if next > 0 {
		out.NextToken = strconv.FormatUint(next, 10)
	}
	clientapi.WriteJSON(w, http.StatusOK, out)
}
