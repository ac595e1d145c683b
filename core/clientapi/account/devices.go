package account

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
)

// deviceJSON is a device as /devices shows it.
type deviceJSON struct {
	DeviceID    string `json:"device_id"`
	DisplayName string `json:"display_name,omitempty"`
	LastSeenIP  string `json:"last_seen_ip,omitempty"`
	LastSeenTS  int64  `json:"last_seen_ts,omitempty"`
}

func toDeviceJSON(d accounts.Device) deviceJSON {
	return deviceJSON{DeviceID: d.ID, DisplayName: d.DisplayName, LastSeenIP: d.LastSeenIP, LastSeenTS: d.LastSeenTS}
}

// GET /devices
func (h *Handlers) devices(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	devs, err := h.acc.Devices(r.Context(), c.UserID)
	if err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	out := make([]deviceJSON, 0, len(devs))
	for _, d := range devs {
		out = append(out, toDeviceJSON(d))
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string][]deviceJSON{"devices": out})
}

// GET /devices/{deviceId}
func (h *Handlers) device(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	d, err := h.acc.Device(r.Context(), c.UserID, r.PathValue("deviceId"))
	if err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, toDeviceJSON(d))
}

// PUT /devices/{deviceId}
//
// Only existing devices can be renamed: creating devices is for application
// services, which hearth does not host.
func (h *Handlers) updateDevice(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	id := r.PathValue("deviceId")
	var err error
	if req.DisplayName == nil {
		_, err = h.acc.Device(r.Context(), c.UserID, id)
	} else {
		err = h.acc.SetDeviceDisplayName(r.Context(), c.UserID, id, *req.DisplayName)
	}
	if err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}

// DELETE /devices/{deviceId}
func (h *Handlers) deleteDevice(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var req struct {
		Auth json.RawMessage `json:"auth"`
	}
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	id := r.PathValue("deviceId")
	h.deleteAfterAuth(w, r, c, []string{id}, req.Auth)
}

// POST /delete_devices
func (h *Handlers) deleteDevices(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	var req struct {
		Devices *[]string       `json:"devices"`
		Auth    json.RawMessage `json:"auth"`
	}
	if err := clientapi.ReadJSON(w, r, &req); err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if req.Devices == nil {
		clientapi.WriteError(w, badRequest(matrixerr.CodeMissingParam, "missing devices"))
		return
	}
	h.deleteAfterAuth(w, r, c, *req.Devices, req.Auth)
}

// deleteAfterAuth deletes the caller's devices once UIA (m.login.password)
// is complete. The session is bound to the set of devices, so that it
// cannot be reused to delete others; deleting devices that are already gone
// succeeds, as the specification says.
func (h *Handlers) deleteAfterAuth(w http.ResponseWriter, r *http.Request, c clientapi.Caller, ids []string, auth json.RawMessage) {
	set := slices.Clone(ids)
	slices.Sort(set)
	set = slices.Compact(set)
	op := "delete_devices\x00" + strings.Join(set, "\x00")
	if _, ok := h.userInteractiveAuth(w, r, op, passwordFlows, c.UserID, auth); !ok {
		return
	}
	if err := h.acc.DeleteDevices(r.Context(), c.UserID, set); err != nil {
		clientapi.WriteError(w, accountsError(err))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, empty)
}
