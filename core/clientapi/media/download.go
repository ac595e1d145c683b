package media

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	mediarepo "hearth/core/media"
)

// contentSecurityPolicy is the policy the spec recommends for served
// content: nothing in it may run or load anything.
const contentSecurityPolicy = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';"

// inlineTypes are the content types the spec's "Serving inline content"
// section allows with Content-Disposition: inline. Everything else,
// HTML and SVG above all, is served as an attachment.
var inlineTypes = map[string]bool{
	"text/css": true, "text/plain": true, "text/csv": true,
	"application/json": true, "application/ld+json": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true,
	"image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true,
	"audio/ogg": true, "audio/wave": true, "audio/wav": true, "audio/x-wav": true,
	"audio/x-pn-wav": true, "audio/flac": true, "audio/x-flac": true,
}

// download handles GET .../download/{serverName}/{mediaId}[/{fileName}].
func (h *Handlers) download(w http.ResponseWriter, r *http.Request, a access) {
	serverName, mediaID := r.PathValue("serverName"), r.PathValue("mediaId")
	f, err := h.repo.Get(r.Context(), serverName, mediaID, a.allowRemote)
	if err != nil {
		clientapi.WriteError(w, mapError(err, serverName != h.repo.ServerName()))
		return
	}
	name := f.FileName
	if r.PathValue("fileName") != "" {
		name = r.PathValue("fileName")
	}
	disposition := "attachment"
	if inline(f.ContentType) {
		disposition = "inline"
	}
	serve(w, r, a, f, disposition, name)
}

// thumbnail handles GET .../thumbnail/{serverName}/{mediaId}.
func (h *Handlers) thumbnail(w http.ResponseWriter, r *http.Request, a access) {
	req, err := thumbnailRequest(r)
	if err != nil {
		clientapi.WriteError(w, err)
		return
	}
	serverName, mediaID := r.PathValue("serverName"), r.PathValue("mediaId")
	f, err := h.repo.Thumbnail(r.Context(), serverName, mediaID, req, a.allowRemote)
	if err != nil {
		clientapi.WriteError(w, mapError(err, serverName != h.repo.ServerName()))
		return
	}
	// Thumbnails are always JPEG, PNG or GIF images: inline is safe, and
	// the spec requires it.
	serve(w, r, a, f, "inline", f.FileName)
}

// thumbnailRequest reads the width, height, method and animated query
// parameters.
func thumbnailRequest(r *http.Request) (mediarepo.ThumbnailRequest, error) {
	q := r.URL.Query()
	var req mediarepo.ThumbnailRequest
	for _, p := range []struct {
		name string
		v    *int
	}{{"width", &req.Width}, {"height", &req.Height}} {
		s := q.Get(p.name)
		if s == "" {
			return req, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing query parameter %s", p.name)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return req, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "query parameter %s must be a positive integer", p.name)
		}
		*p.v = int(min(n, mediarepo.MaxThumbnailDimension))
	}
	switch m := q.Get("method"); m {
	case "", "scale":
		req.Method = mediarepo.Scale
	case "crop":
		req.Method = mediarepo.Crop
	default:
		return req, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "query parameter method must be crop or scale, not %q", m)
	}
	animated, err := queryBool(r, "animated", false)
	req.Animated = animated
	return req, err
}

// serve writes a file with the content repository's headers. Range and
// conditional requests are answered by http.ServeContent.
func serve(w http.ResponseWriter, r *http.Request, a access, f *mediarepo.File, disposition, name string) {
	hd := w.Header()
	hd.Set("Content-Type", f.ContentType)
	hd.Set("Content-Disposition", contentDisposition(disposition, name))
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("Cross-Origin-Resource-Policy", "cross-origin")
	hd.Set("X-Content-Type-Options", "nosniff")
	// Content never changes under its mxc:// URI. Responses to
	// authenticated requests must not sit in shared caches, where they
	// would be served without the token.
	if a.authenticated {
		hd.Set("Cache-Control", "private, max-age=86400")
	} else {
		hd.Set("Cache-Control", "public, max-age=86400")
	}
	if f.SHA256 != "" {
		hd.Set("ETag", `"`+f.SHA256+`"`)
	}
	http.ServeContent(w, r, "", f.Created, f.Open(r.Context()))
}

// inline reports whether a content type may be served inline.
func inline(contentType string) bool {
	base, _, err := mime.ParseMediaType(contentType)
	return err == nil && inlineTypes[strings.ToLower(base)]
}

// contentDisposition formats the header as RFC 6266 asks: a quoted
// filename for ASCII names, the extended filename* parameter of RFC 5987
// (UTF-8, percent-encoded) for others.
func contentDisposition(disposition, name string) string {
	if name == "" {
		return disposition
	}
	if v := mime.FormatMediaType(disposition, map[string]string{"filename": name}); v != "" {
		return v
	}
	return disposition
}
