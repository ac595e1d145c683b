package profile

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
)

// getProfile answers GET /profile/{userId} with the fields that are set.
// Like Synapse it answers 404 for a profile with no field set (which is
// also what a deactivated user's looks like).
func (h *Handlers) getProfile(w http.ResponseWriter, r *http.Request) {
	p, err := h.lookup(r.Context(), r.PathValue("userId"), "")
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if p == (accounts.Profile{}) {
		clientapi.WriteError(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "the user has no profile"))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, p)
}

// getField answers GET /profile/{userId}/<field>: 404 when the user does
// not exist or has not set the field, as the spec says.
func (h *Handlers) getField(field string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := h.lookup(r.Context(), r.PathValue("userId"), field)
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		v := fieldOf(p, field)
		if v == "" {
			clientapi.WriteError(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "the user has no %s", field))
			return
		}
		clientapi.WriteJSON(w, http.StatusOK, map[string]string{field: v})
	}
}

func fieldOf(p accounts.Profile, field string) string {
	if field == FieldDisplayName {
		return p.DisplayName
	}
	return p.AvatarURL
}

// putField answers PUT /profile/{userId}/<field>: only the user may change
// their own profile. The change is durable before the response, and then
// carried into the member events of the user's joined rooms.
func (h *Handlers) putField(field string) func(http.ResponseWriter, *http.Request, clientapi.Caller) {
	return func(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
		userID := r.PathValue("userId")
		if _, ok := splitUserID(userID); !ok {
			clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "%q is not a user ID", userID))
			return
		}
		if userID != c.UserID {
			clientapi.WriteError(w, matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "you may only change your own profile"))
			return
		}
		var body map[string]json.RawMessage
		if err := clientapi.ReadJSON(w, r, &body); err != nil {
			clientapi.WriteError(w, err)
			return
		}
		raw, ok := body[field]
		if !ok {
			clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing %s", field))
			return
		}
		var value string
		if string(raw) != "null" { // null removes the field, like ""
			if err := json.Unmarshal(raw, &value); err != nil {
				clientapi.WriteError(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "%s must be a string", field))
				return
			}
		}
		ctx := r.Context()
		old, err := h.cfg.Accounts.Profile(ctx, userID)
		if err != nil {
			clientapi.WriteError(w, mapAccountErr(err))
			return
		}
		set := h.cfg.Accounts.SetDisplayName
		if field == FieldAvatarURL {
			set = h.cfg.Accounts.SetAvatarURL
		}
		if err := set(ctx, userID, value); err != nil {
			clientapi.WriteError(w, mapAccountErr(err))
			return
		}
		if fieldOf(old, field) != value {
			// The change is stored; the rooms follow even if the client
			// goes away meanwhile.
			h.propagate(context.WithoutCancel(ctx), userID, field, value)
		}
		clientapi.WriteJSON(w, http.StatusOK, struct{}{})
	}
}

// mapAccountErr turns core/accounts' errors into Matrix errors.
func mapAccountErr(err error) error {
	switch {
	case errors.Is(err, accounts.ErrProfileTooLong):
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "%v", err)
	case errors.Is(err, accounts.ErrUserNotFound):
		return matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "no such user")
	case errors.Is(err, accounts.ErrUserDeactivated):
		return matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "the account is deactivated")
	}
	return err
}
