// Package media serves the content repository's endpoints of the
// client-server API: uploads (POST /_matrix/media/v3/upload, and the
// asynchronous POST /_matrix/media/v1/create with PUT
// /_matrix/media/v3/upload/{serverName}/{mediaId}), the authenticated
// downloads, thumbnails and configuration of spec v1.11
// (/_matrix/client/v1/media/...), and their deprecated unauthenticated
// forms under /_matrix/media/v3 and /_matrix/media/r0, which older clients
// such as Hydrogen still use. The files themselves live in core/media.
//
// Downloads are served with the headers the spec's content repository
// section asks for: a sandboxing Content-Security-Policy,
// Cross-Origin-Resource-Policy: cross-origin, and Content-Disposition
// inline only for the content types its "Serving inline content" list
// names, attachment for everything else. URL previews are not offered:
// hearth fetches no URLs for clients.
package media

import (
	"errors"
	"fmt"
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	mediarepo "hearth/core/media"
)

// Config is what the handlers need.
type Config struct {
	// Repo stores and serves the files.
	Repo *mediarepo.Repo
}

// Handlers serves the media endpoints.
type Handlers struct {
	repo *mediarepo.Repo
}

// New returns the media handlers.
func New(cfg Config) (*Handlers, error) {
	if cfg.Repo == nil {
		return nil, errors.New("clientapi/media: no repository")
	}
	return &Handlers{repo: cfg.Repo}, nil
}

// Register adds the media endpoints to rt.
func (h *Handlers) Register(rt *clientapi.Router) {
	rt.HandleRawAuth("POST /_matrix/media/v1/create", h.create)
	rt.HandleRawAuth("PUT /_matrix/media/v3/upload/{serverName}/{mediaId}", h.uploadTo)

	rt.HandleV1Auth("GET /media/download/{serverName}/{mediaId}", h.authed(h.download))
	rt.HandleV1Auth("GET /media/download/{serverName}/{mediaId}/{fileName}", h.authed(h.download))
	rt.HandleV1Auth("GET /media/thumbnail/{serverName}/{mediaId}", h.authed(h.thumbnail))
	rt.HandleV1Auth("GET /media/config", h.config)
	rt.HandleV1("GET /media/preview_url", previewURL)

	for _, v := range []string{"v3", "r0"} {
		p := "/_matrix/media/" + v
		rt.HandleRawAuth("POST "+p+"/upload", h.upload)
		rt.HandleRaw("GET "+p+"/download/{serverName}/{mediaId}", h.legacy(h.download))
		rt.HandleRaw("GET "+p+"/download/{serverName}/{mediaId}/{fileName}", h.legacy(h.download))
		rt.HandleRaw("GET "+p+"/thumbnail/{serverName}/{mediaId}", h.legacy(h.thumbnail))
		rt.HandleRawAuth("GET "+p+"/config", h.config)
		rt.HandleRaw("GET "+p+"/preview_url", previewURL)
	}
}

// access says how a download endpoint was reached.
type access struct {
	// authenticated is true for the /_matrix/client/v1 endpoints.
	authenticated bool
	// allowRemote is false when a legacy request set allow_remote=false.
	allowRemote bool
}

type serveFunc func(w http.ResponseWriter, r *http.Request, a access)

func (h *Handlers) authed(serve serveFunc) func(http.ResponseWriter, *http.Request, clientapi.Caller) {
	return func(w http.ResponseWriter, r *http.Request, _ clientapi.Caller) {
		serve(w, r, access{authenticated: true, allowRemote: true})
	}
}

func (h *Handlers) legacy(serve serveFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		allow, err := queryBool(r, "allow_remote", true)
		if err != nil {
			clientapi.WriteError(w, err)
			return
		}
		serve(w, r, access{allowRemote: allow})
	}
}

// config answers GET .../media/config with the upload size limit.
func (h *Handlers) config(w http.ResponseWriter, r *http.Request, _ clientapi.Caller) {
	clientapi.WriteJSON(w, http.StatusOK, map[string]int64{"m.upload.size": h.repo.MaxUploadSize()})
}

// previewURL answers that URL previews are not offered, as a server that
// has them turned off does, so clients simply show no preview.
func previewURL(w http.ResponseWriter, r *http.Request) {
	clientapi.WriteError(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeUnrecognized, "URL previews are not supported by this server"))
}

// queryBool reads an optional boolean query parameter.
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	default:
		return false, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "query parameter %s must be true or false, not %q", name, v)
	}
}

// mapError turns core/media errors into Matrix errors. remote says the
// file belongs to another server, whose oversized files are the spec's 502
// rather than 413.
func mapError(err error, remote bool) error {
	var me matrixerr.Error
	switch {
	case errors.As(err, &me):
		return me
	case errors.Is(err, mediarepo.ErrInvalidID):
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "invalid server name or media ID")
	case errors.Is(err, mediarepo.ErrNotFound):
		return matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "media not found")
	case errors.Is(err, mediarepo.ErrNotYetUploaded):
		return matrixerr.New(http.StatusGatewayTimeout, "M_NOT_YET_UPLOADED", "content has not yet been uploaded")
	case errors.Is(err, mediarepo.ErrTooLarge) && remote:
		return matrixerr.New(http.StatusBadGateway, matrixerr.CodeTooLarge, "remote content is too large")
	case errors.Is(err, mediarepo.ErrTooLarge):
		return matrixerr.New(http.StatusRequestEntityTooLarge, matrixerr.CodeTooLarge, "content is too large")
	case errors.Is(err, mediarepo.ErrCannotThumbnail):
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeUnknown, "cannot generate thumbnails for the requested content")
	case errors.Is(err, mediarepo.ErrCannotOverwrite):
		return matrixerr.New(http.StatusConflict, "M_CANNOT_OVERWRITE_MEDIA", "media already uploaded")
	case errors.Is(err, mediarepo.ErrForbidden):
		return matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "this media ID was created by another user")
	case errors.Is(err, mediarepo.ErrTooManyPending):
		return matrixerr.New(http.StatusTooManyRequests, matrixerr.CodeLimitExceeded, "too many media IDs await their content")
	case errors.Is(err, mediarepo.ErrRemote):
		return matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "could not fetch remote media")
	}
	return fmt.Errorf("clientapi/media: %w", err)
}
