package media

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	mediarepo "hearth/core/media"
	"hearth/core/media/imagecodec"
	"hearth/persist/memory"
)

const server = "example.org"

// fakeAuth knows a token per test user.
type fakeAuth map[string]clientapi.Caller

func (a fakeAuth) Authenticate(_ context.Context, token string) (clientapi.Caller, error) {
	if c, ok := a[token]; ok {
		return c, nil
	}
	return clientapi.Caller{}, matrixerr.New(http.StatusUnauthorized, matrixerr.CodeUnknownToken, "unknown token")
}

var users = fakeAuth{
	"alice": {UserID: "@alice:" + server, DeviceID: "A", AccessToken: "alice"},
	"bob":   {UserID: "@bob:" + server, DeviceID: "B", AccessToken: "bob"},
	"guest": {UserID: "@guest:" + server, DeviceID: "G", AccessToken: "guest", IsGuest: true},
}

// remote serves other servers' files.
type remote struct {
	files map[string]string
	calls atomic.Int32
}

func (r *remote) Fetch(_ context.Context, serverName, mediaID string) (string, string, io.ReadCloser, error) {
	r.calls.Add(1)
	body, ok := r.files[serverName+"/"+mediaID]
	if !ok {
		return "", "", nil, mediarepo.ErrNotFound
	}
	return "image/png", "far.png", io.NopCloser(strings.NewReader(body)), nil
}

type env struct {
	t      *testing.T
	mux    *http.ServeMux
	remote *remote
}

func newEnv(t *testing.T, edit func(*mediarepo.Config)) *env {
	t.Helper()
	rem := &remote{files: map[string]string{"far.org/farMedia": "far away"}}
	cfg := mediarepo.Config{
		ServerName: server,
		Store:      memory.New(),
		Now:        func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) },
		Rand:       rand.NewChaCha8([32]byte{9}),
		Remote:     rem,
		Codec:      imagecodec.Codec{},
	}
	if edit != nil {
		edit(&cfg)
	}
	repo, err := mediarepo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(clientapi.NewRouter(mux, users))
	return &env{t: t, mux: mux, remote: rem}
}

// do sends a request with token (none when empty) and extra headers.
func (e *env) do(method, path, token string, body io.Reader, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	return rec
}

// upload posts data and returns the media ID.
func (e *env) upload(contentType, query string, data []byte) string {
	e.t.Helper()
	rec := e.do("POST", "/_matrix/media/v3/upload"+query, "alice", bytes.NewReader(data), "Content-Type", contentType)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var resp struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		e.t.Fatal(err)
	}
	id, ok := strings.CutPrefix(resp.ContentURI, "mxc://"+server+"/")
	if !ok || !mediarepo.ValidMediaID(id) || len(id) < 24 {
		e.t.Fatalf("content_uri %q", resp.ContentURI)
	}
	return id
}

// wantError checks a Matrix error response.
func wantError(t *testing.T, name string, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	var body struct {
		Errcode string `json:"errcode"`
		Error   string `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != status || body.Errcode != code || body.Error == "" {
		t.Errorf("%s: %d %s, want %d %s", name, rec.Code, rec.Body, status, code)
	}
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestUploadDownloadRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	big := make([]byte, 3*mediarepo.ChunkSize+123)
	for i := range big {
		big[i] = byte(i * 31)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{{"small", []byte("hello, world")}, {"multi-chunk", big}, {"empty", nil}} {
		id := e.upload("application/octet-stream", "?filename=data.bin", tc.data)
		for _, path := range []string{
			"/_matrix/client/v1/media/download/" + server + "/" + id,
			"/_matrix/media/v3/download/" + server + "/" + id,
			"/_matrix/media/r0/download/" + server + "/" + id,
		} {
			token := ""
			if strings.HasPrefix(path, "/_matrix/client/") {
				token = "bob"
			}
			rec := e.do("GET", path, token, nil)
			if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), tc.data) {
				t.Errorf("%s %s: %d, %d bytes; want 200, %d bytes", tc.name, path, rec.Code, rec.Body.Len(), len(tc.data))
			}
			if cl := rec.Header().Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(tc.data)) {
				t.Errorf("%s: Content-Length %s", tc.name, cl)
			}
		}
	}
}

func TestDownloadHeaders(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, contentType, query, pathName string
		wantDisposition                    string
	}{
		{"image inline with name", "image/png", "?filename=cat.png", "", `inline; filename=cat.png`},
		{"name with spaces", "image/jpeg", "?filename=my%20cat.jpg", "", `inline; filename="my cat.jpg"`},
		{"non-ASCII name", "text/plain", "?filename=%C3%BCber.txt", "", `inline; filename*=utf-8''%C3%BCber.txt`},
		{"no name", "video/mp4", "", "", "inline"},
		{"html is an attachment", "text/html", "?filename=x.html", "", `attachment; filename=x.html`},
		{"html with charset", "text/html; charset=utf-8", "", "", "attachment"},
		{"svg is an attachment", "image/svg+xml", "", "", "attachment"},
		{"javascript", "application/javascript", "", "", "attachment"},
		{"case of type ignored", "IMAGE/PNG", "", "", "inline"},
		{"name in path overrides", "image/png", "?filename=cat.png", "/dog.png", `inline; filename=dog.png`},
		{"quote in path name", "application/pdf", "", `/a%22b.pdf`, `attachment; filename="a\"b.pdf"`},
	} {
		id := e.upload(tc.contentType, tc.query, []byte("content"))
		rec := e.do("GET", "/_matrix/client/v1/media/download/"+server+"/"+id+tc.pathName, "bob", nil)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
			continue
		}
		h := rec.Header()
		for k, want := range map[string]string{
			"Content-Type":                 tc.contentType,
			"Content-Disposition":          tc.wantDisposition,
			"Content-Security-Policy":      contentSecurityPolicy,
			"Cross-Origin-Resource-Policy": "cross-origin",
			"X-Content-Type-Options":       "nosniff",
			"Cache-Control":                "private, max-age=86400",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got, want)
			}
		}
		if h.Get("ETag") == "" {
			t.Errorf("%s: no ETag", tc.name)
		}
	}
	id := e.upload("image/png", "", []byte("x"))
	if cc := e.do("GET", "/_matrix/media/v3/download/"+server+"/"+id, "", nil).Header().Get("Cache-Control"); cc != "public, max-age=86400" {
		t.Errorf("legacy Cache-Control %q", cc)
	}
}

func TestDownloadConditionalAndRange(t *testing.T) {
	e := newEnv(t, nil)
	data := make([]byte, mediarepo.ChunkSize+100)
	for i := range data {
		data[i] = byte(i % 251)
	}
	id := e.upload("application/octet-stream", "", data)
	path := "/_matrix/client/v1/media/download/" + server + "/" + id
	from := mediarepo.ChunkSize - 10
	rec := e.do("GET", path, "bob", nil, "Range", "bytes="+strconv.Itoa(from)+"-"+strconv.Itoa(from+19))
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), data[from:from+20]) {
		t.Errorf("range across a chunk boundary: %d, %v", rec.Code, rec.Body.Bytes())
	}
	etag := rec.Header().Get("ETag")
	if rec := e.do("GET", path, "bob", nil, "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d", rec.Code)
	}
	if rec := e.do("HEAD", path, "bob", nil); rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != strconv.Itoa(len(data)) {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	id := e.upload("text/plain", "", []byte("x"))
	thumbQuery := "?width=32&height=32"
	for _, tc := range []struct {
		method, path string
	}{
		{"POST", "/_matrix/media/v3/upload"},
		{"POST", "/_matrix/media/r0/upload"},
		{"POST", "/_matrix/media/v1/create"},
		{"PUT", "/_matrix/media/v3/upload/" + server + "/" + id},
		{"GET", "/_matrix/client/v1/media/download/" + server + "/" + id},
		{"GET", "/_matrix/client/v1/media/download/" + server + "/" + id + "/x.txt"},
		{"GET", "/_matrix/client/v1/media/thumbnail/" + server + "/" + id + thumbQuery},
		{"GET", "/_matrix/client/v1/media/config"},
		{"GET", "/_matrix/media/v3/config"},
	} {
		wantError(t, tc.method+" "+tc.path+" without token", e.do(tc.method, tc.path, "", strings.NewReader("x")), http.StatusUnauthorized, matrixerr.CodeMissingToken)
		wantError(t, tc.method+" "+tc.path+" bad token", e.do(tc.method, tc.path, "nobody", strings.NewReader("x")), http.StatusUnauthorized, matrixerr.CodeUnknownToken)
	}
	// The deprecated downloads stay open for clients without
	// authenticated media.
	for _, path := range []string{
		"/_matrix/media/v3/download/" + server + "/" + id,
		"/_matrix/media/v3/download/" + server + "/" + id + "/x.txt",
		"/_matrix/media/r0/download/" + server + "/" + id,
	} {
		if rec := e.do("GET", path, "", nil); rec.Code != http.StatusOK {
			t.Errorf("GET %s without token: %d %s", path, rec.Code, rec.Body)
		}
	}
	wantError(t, "guest upload", e.do("POST", "/_matrix/media/v3/upload", "guest", strings.NewReader("x")), http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN")
	wantError(t, "guest create", e.do("POST", "/_matrix/media/v1/create", "guest", nil), http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN")
	if rec := e.do("GET", "/_matrix/client/v1/media/download/"+server+"/"+id, "guest", nil); rec.Code != http.StatusOK {
		t.Errorf("guest download: %d", rec.Code)
	}
}

func TestUploadSizeLimit(t *testing.T) {
	e := newEnv(t, func(c *mediarepo.Config) { c.MaxUploadSize = 1000 })
	wantError(t, "declared length over the limit",
		e.do("POST", "/_matrix/media/v3/upload", "alice", bytes.NewReader(make([]byte, 1001))),
		http.StatusRequestEntityTooLarge, matrixerr.CodeTooLarge)

	// A body of unknown length that turns out too long.
	req := httptest.NewRequest("POST", "/_matrix/media/v3/upload", io.MultiReader(bytes.NewReader(make([]byte, 1001))))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer alice")
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	wantError(t, "streamed body over the limit", rec, http.StatusRequestEntityTooLarge, matrixerr.CodeTooLarge)

	if rec := e.do("POST", "/_matrix/media/v3/upload", "alice", bytes.NewReader(make([]byte, 1000))); rec.Code != http.StatusOK {
		t.Errorf("upload of exactly the limit: %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{"/_matrix/client/v1/media/config", "/_matrix/media/v3/config", "/_matrix/media/r0/config"} {
		rec := e.do("GET", path, "alice", nil)
		if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"m.upload.size":1000}` {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}

func TestDefaultConfig(t *testing.T) {
	e := newEnv(t, nil)
	rec := e.do("GET", "/_matrix/client/v1/media/config", "alice", nil)
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"m.upload.size":52428800}` {
		t.Errorf("config: %d %s", rec.Code, rec.Body)
	}
}

func TestDownloadErrors(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"unknown media", "/_matrix/client/v1/media/download/" + server + "/unknownMedia", 404, matrixerr.CodeNotFound},
		{"unknown media, legacy", "/_matrix/media/v3/download/" + server + "/unknownMedia", 404, matrixerr.CodeNotFound},
		{"unknown thumbnail", "/_matrix/client/v1/media/thumbnail/" + server + "/unknownMedia?width=1&height=1", 404, matrixerr.CodeNotFound},
		{"bad media ID", "/_matrix/client/v1/media/download/" + server + "/a.b", 400, matrixerr.CodeInvalidParam},
		{"encoded slash", "/_matrix/client/v1/media/download/" + server + "/..%2Fkeys", 400, matrixerr.CodeInvalidParam},
		{"bad server name", "/_matrix/client/v1/media/download/bad_server!/abc", 400, matrixerr.CodeInvalidParam},
		{"remote not found", "/_matrix/client/v1/media/download/far.org/nothing", 404, matrixerr.CodeNotFound},
		{"legacy remote not allowed", "/_matrix/media/v3/download/far.org/farMedia?allow_remote=false", 404, matrixerr.CodeNotFound},
		{"bad allow_remote", "/_matrix/media/v3/download/far.org/farMedia?allow_remote=maybe", 400, matrixerr.CodeInvalidParam},
		{"preview_url", "/_matrix/client/v1/media/preview_url?url=https://example.com", 404, matrixerr.CodeUnrecognized},
		{"legacy preview_url", "/_matrix/media/v3/preview_url?url=https://example.com", 404, matrixerr.CodeUnrecognized},
	} {
		wantError(t, tc.name, e.do("GET", tc.path, "alice", nil), tc.status, tc.code)
	}
}

func TestRemoteMedia(t *testing.T) {
	e := newEnv(t, nil)
	for range 2 {
		rec := e.do("GET", "/_matrix/client/v1/media/download/far.org/farMedia", "alice", nil)
		if rec.Code != http.StatusOK || rec.Body.String() != "far away" || rec.Header().Get("Content-Disposition") != "inline; filename=far.png" {
			t.Errorf("remote download: %d %q %q", rec.Code, rec.Body, rec.Header().Get("Content-Disposition"))
		}
	}
	if rec := e.do("GET", "/_matrix/media/v3/download/far.org/farMedia?allow_remote=false", "", nil); rec.Code != http.StatusOK {
		t.Errorf("cached remote file with allow_remote=false: %d", rec.Code)
	}
	if n := e.remote.calls.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}

	noRemote := newEnv(t, func(c *mediarepo.Config) { c.Remote = nil })
	wantError(t, "no Remote", noRemote.do("GET", "/_matrix/client/v1/media/download/far.org/farMedia", "alice", nil), 404, matrixerr.CodeNotFound)
}

func TestThumbnails(t *testing.T) {
	e := newEnv(t, nil)
	pngID := e.upload("image/png", "?filename=big.png", pngOf(t, 400, 200))
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 300, 300)), nil); err != nil {
		t.Fatal(err)
	}
	jpgID := e.upload("image/jpeg", "", jpg.Bytes())
	textID := e.upload("text/plain", "", []byte("not an image"))
	for _, tc := range []struct {
		name, id, query string
		wantType        string
		wantW, wantH    int
	}{
		{"scale", pngID, "width=100&height=100&method=scale", "image/png", 100, 50},
		{"default method is scale", pngID, "width=100&height=100", "image/png", 100, 50},
		{"crop", pngID, "width=96&height=96&method=crop", "image/png", 96, 96},
		{"jpeg crop", jpgID, "width=32&height=32&method=crop", "image/jpeg", 32, 32},
		{"jpeg scale", jpgID, "width=320&height=240&method=scale", "image/jpeg", 240, 240},
		{"larger than the image", jpgID, "width=800&height=600&method=scale", "image/jpeg", 300, 300},
		{"animated ignored for stills", pngID, "width=100&height=100&animated=true", "image/png", 100, 50},
	} {
		for _, prefix := range []string{"/_matrix/client/v1/media/thumbnail/", "/_matrix/media/v3/thumbnail/", "/_matrix/media/r0/thumbnail/"} {
			token := ""
			if strings.HasPrefix(prefix, "/_matrix/client/") {
				token = "bob"
			}
			rec := e.do("GET", prefix+server+"/"+tc.id+"?"+tc.query, token, nil)
			if rec.Code != http.StatusOK {
				t.Errorf("%s %s: %d %s", tc.name, prefix, rec.Code, rec.Body)
				continue
			}
			h := rec.Header()
			if h.Get("Content-Type") != tc.wantType || !strings.HasPrefix(h.Get("Content-Disposition"), "inline") ||
				h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("Cross-Origin-Resource-Policy") != "cross-origin" {
				t.Errorf("%s: headers %v", tc.name, h)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(rec.Body.Bytes()))
			if err != nil || "image/"+format != tc.wantType || cfg.Width != tc.wantW || cfg.Height != tc.wantH {
				t.Errorf("%s: decoded %s %dx%d (%v), want %s %dx%d", tc.name, format, cfg.Width, cfg.Height, err, tc.wantType, tc.wantW, tc.wantH)
			}
		}
	}
	for _, tc := range []struct {
		name, id, query string
		status          int
		code            string
	}{
		{"non-image", textID, "width=32&height=32", 400, matrixerr.CodeUnknown},
		{"missing width", pngID, "height=32", 400, matrixerr.CodeMissingParam},
		{"missing height", pngID, "width=32", 400, matrixerr.CodeMissingParam},
		{"zero width", pngID, "width=0&height=32", 400, matrixerr.CodeInvalidParam},
		{"negative height", pngID, "width=32&height=-4", 400, matrixerr.CodeInvalidParam},
		{"fractional width", pngID, "width=3.5&height=32", 400, matrixerr.CodeInvalidParam},
		{"bad method", pngID, "width=32&height=32&method=stretch", 400, matrixerr.CodeInvalidParam},
		{"bad animated", pngID, "width=32&height=32&animated=yes", 400, matrixerr.CodeInvalidParam},
	} {
		wantError(t, tc.name, e.do("GET", "/_matrix/client/v1/media/thumbnail/"+server+"/"+tc.id+"?"+tc.query, "bob", nil), tc.status, tc.code)
	}

	small := newEnv(t, func(c *mediarepo.Config) { c.MaxThumbnailPixels = 1000 })
	id := small.upload("image/png", "", pngOf(t, 100, 100))
	wantError(t, "image over the pixel limit", small.do("GET", "/_matrix/client/v1/media/thumbnail/"+server+"/"+id+"?width=32&height=32", "bob", nil), 413, matrixerr.CodeTooLarge)
}

func TestAsyncUpload(t *testing.T) {
	e := newEnv(t, nil)
	rec := e.do("POST", "/_matrix/media/v1/create", "alice", strings.NewReader("{}"))
	var created struct {
		ContentURI      string `json:"content_uri"`
		UnusedExpiresAt int64  `json:"unused_expires_at"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &created); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	want := time.Date(2025, 1, 3, 3, 4, 5, 0, time.UTC).UnixMilli()
	if created.UnusedExpiresAt != want {
		t.Errorf("unused_expires_at %d, want %d", created.UnusedExpiresAt, want)
	}
	id, ok := strings.CutPrefix(created.ContentURI, "mxc://"+server+"/")
	if !ok || !mediarepo.ValidMediaID(id) {
		t.Fatalf("content_uri %q", created.ContentURI)
	}
	download := "/_matrix/client/v1/media/download/" + server + "/" + id
	wantError(t, "download before upload", e.do("GET", download, "alice", nil), http.StatusGatewayTimeout, "M_NOT_YET_UPLOADED")

	put := "/_matrix/media/v3/upload/" + server + "/" + id + "?filename=later.txt"
	wantError(t, "another user's media ID", e.do("PUT", put, "bob", strings.NewReader("x")), http.StatusForbidden, matrixerr.CodeForbidden)
	wantError(t, "unknown media ID", e.do("PUT", "/_matrix/media/v3/upload/"+server+"/neverCreated", "alice", strings.NewReader("x")), http.StatusNotFound, matrixerr.CodeNotFound)
	wantError(t, "other server", e.do("PUT", "/_matrix/media/v3/upload/far.org/"+id, "alice", strings.NewReader("x")), http.StatusNotFound, matrixerr.CodeNotFound)
	wantError(t, "bad media ID", e.do("PUT", "/_matrix/media/v3/upload/"+server+"/a.b", "alice", strings.NewReader("x")), http.StatusBadRequest, matrixerr.CodeInvalidParam)

	rec = e.do("PUT", put, "alice", strings.NewReader("later"), "Content-Type", "text/plain")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	rec = e.do("GET", download, "bob", nil)
	if rec.Code != http.StatusOK || rec.Body.String() != "later" || rec.Header().Get("Content-Disposition") != "inline; filename=later.txt" {
		t.Errorf("download after PUT: %d %q %v", rec.Code, rec.Body, rec.Header())
	}
	wantError(t, "second PUT", e.do("PUT", put, "alice", strings.NewReader("again")), http.StatusConflict, "M_CANNOT_OVERWRITE_MEDIA")

	limited := newEnv(t, func(c *mediarepo.Config) { c.MaxPending = 1 })
	if rec := limited.do("POST", "/_matrix/media/v1/create", "alice", nil); rec.Code != http.StatusOK {
		t.Fatalf("create: %d", rec.Code)
	}
	wantError(t, "too many pending", limited.do("POST", "/_matrix/media/v1/create", "alice", nil), http.StatusTooManyRequests, matrixerr.CodeLimitExceeded)
}

func TestInline(t *testing.T) {
	for ct, want := range map[string]bool{
		"image/png": true, "image/png; charset=x": true, "text/plain; charset=utf-8": true, "audio/ogg": true,
		"text/html": false, "image/svg+xml": false, "application/xhtml+xml": false, "": false, "garbage": false,
		"application/octet-stream": false, "text/xml": false,
	} {
		if got := inline(ct); got != want {
			t.Errorf("inline(%q) = %v", ct, got)
		}
	}
}
