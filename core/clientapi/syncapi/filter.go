package syncapi

import (
	"errors"
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/filter"
	"hearth/core/matrixerr"
	"hearth/core/syncer"
)

// createFilter serves POST /user/{userId}/filter.
func (h *Handlers) createFilter(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	if r.PathValue("userId") != c.UserID {
		clientapi.WriteError(w, matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "cannot create filters for other users"))
		return
	}
	raw, err := clientapi.ReadJSONBody(w, r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if _, err := filter.Parse(raw); err != nil {
		clientapi.WriteError(w, err) // a matrixerr.Error
		return
	}
	id, err := h.cfg.Syncer.PutFilter(r.Context(), c.UserID, raw)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"filter_id": id})
}

// getFilter serves GET /user/{userId}/filter/{filterId}.
func (h *Handlers) getFilter(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	if r.PathValue("userId") != c.UserID {
		clientapi.WriteError(w, matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "cannot get filters of other users"))
		return
	}
	raw, err := h.cfg.Syncer.GetFilter(r.Context(), c.UserID, r.PathValue("filterId"))
	if errors.Is(err, syncer.ErrUnknownFilter) {
		clientapi.WriteError(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "no such filter"))
		return
	}
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, raw)
}
