package media

import (
	"errors"
	"io"
	"net/http"

	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	mediarepo "hearth/core/media"
	"hearth/core/mxid"
)

// upload handles POST /_matrix/media/v3/upload: the raw body is the file,
// its Content-Type header the file's type, the filename query parameter
// its name.
func (h *Handlers) upload(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	body, err := h.body(w, r, c)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	id, err := h.repo.Upload(r.Context(), h.uploadOf(r, c, body))
	if err != nil {
		clientapi.WriteError(w, h.uploadError(err, body))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]string{"content_uri": mediarepo.URI(h.repo.ServerName(), id)})
}

// create handles POST /_matrix/media/v1/create: a media ID for a later
// upload. The request body is ignored; the spec's is an empty object.
func (h *Handlers) create(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	if c.IsGuest {
		clientapi.WriteError(w, guestForbidden())
		return
	}
	id, expires, err := h.repo.Create(r.Context(), c.UserID)
	if err != nil {
		clientapi.WriteError(w, mapError(err, false))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, map[string]any{
		"content_uri":       mediarepo.URI(h.repo.ServerName(), id),
		"unused_expires_at": expires.UnixMilli(),
	})
}

// uploadTo handles PUT /_matrix/media/v3/upload/{serverName}/{mediaId}:
// the content of a media ID from create.
func (h *Handlers) uploadTo(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
	serverName, mediaID := r.PathValue("serverName"), r.PathValue("mediaId")
	if !mxid.ValidServerName(serverName) || !mediarepo.ValidMediaID(mediaID) {
		clientapi.WriteError(w, mapError(mediarepo.ErrInvalidID, false))
		return
	}
	if serverName != h.repo.ServerName() {
		clientapi.WriteError(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "media IDs of %s cannot be uploaded here", serverName))
		return
	}
	body, err := h.body(w, r, c)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	if err := h.repo.UploadTo(r.Context(), mediaID, h.uploadOf(r, c, body)); err != nil {
		clientapi.WriteError(w, h.uploadError(err, body))
		return
	}
	clientapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// body checks what can be checked of an upload before reading it: the
// caller is no guest and the declared length is within the limit.
func (h *Handlers) body(w http.ResponseWriter, r *http.Request, c clientapi.Caller) (*bodyReader, error) {
	if c.IsGuest {
		return nil, guestForbidden()
	}
	if r.ContentLength > h.repo.MaxUploadSize() {
		return nil, h.tooLarge()
	}
	// MaxBytesReader also makes the server close the connection rather
	// than read the rest of an oversized body.
	return &bodyReader{r: http.MaxBytesReader(w, r.Body, h.repo.MaxUploadSize())}, nil
}

func (h *Handlers) uploadOf(r *http.Request, c clientapi.Caller, body io.Reader) mediarepo.Upload {
	return mediarepo.Upload{
		Uploader:    c.UserID,
		ContentType: r.Header.Get("Content-Type"),
		FileName:    r.URL.Query().Get("filename"),
		Body:        body,
	}
}

// uploadError maps an upload's failure: a body over the limit is 413, a
// body the client failed to send is its error, not the server's.
func (h *Handlers) uploadError(err error, body *bodyReader) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, mediarepo.ErrTooLarge), errors.As(body.err, &tooBig):
		return h.tooLarge()
	case body.err != nil:
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeUnknown, "reading the request body failed")
	}
	return mapError(err, false)
}

func (h *Handlers) tooLarge() error {
	return matrixerr.New(http.StatusRequestEntityTooLarge, matrixerr.CodeTooLarge, "cannot upload files larger than %d bytes", h.repo.MaxUploadSize())
}

func guestForbidden() error {
	return matrixerr.New(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN", "guests cannot upload media")
}

// bodyReader remembers the error reading the request body failed with.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}
