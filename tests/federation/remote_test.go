package federation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// raw sends a request to an absolute client API path (not under
// /_matrix/client/v3) with the client's token.
func (c *client) raw(method, path, contentType string, body []byte) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.n.cli.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func errcode(b []byte) string {
	var e struct {
		Errcode string `json:"errcode"`
	}
	json.Unmarshal(b, &e)
	return e.Errcode
}

// TestRemoteMedia: a user of B downloads a file uploaded on A through B's
// client API, B keeps a copy that it serves with A gone, and an unknown
// file of A is not found.
func TestRemoteMedia(t *testing.T) {
	a, b := startNode(t), startNode(t)
	alice, bob := register(t, a, "alice"), register(t, b, "bob")

	content := bytes.Repeat([]byte("hearth remote media\n"), 20000) // over one 256 KiB chunk
	status, _, body := alice.raw("POST", "/_matrix/media/v3/upload?filename=notes.txt", "text/plain", content)
	if status != http.StatusOK {
		t.Fatalf("upload: %d %s", status, body)
	}
	var up struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(body, &up); err != nil {
		t.Fatal(err)
	}
	mediaID, ok := strings.CutPrefix(up.ContentURI, "mxc://"+a.name+"/")
	if !ok {
		t.Fatalf("content_uri %q is not of %s", up.ContentURI, a.name)
	}
	path := "/_matrix/client/v1/media/download/" + a.name + "/" + mediaID

	check := func(when string) {
		t.Helper()
		status, h, got := bob.raw("GET", path, "", nil)
		if status != http.StatusOK {
			t.Fatalf("%s: download through %s: %d %s", when, b.name, status, got)
		}
		if !bytes.Equal(got, content) {
			t.Fatalf("%s: downloaded %d bytes, want the %d uploaded", when, len(got), len(content))
		}
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("%s: Content-Type %q, want text/plain", when, ct)
		}
	}
	check("first download")

	// An unknown file of A: A answers 404, and so does B.
	status, _, body = bob.raw("GET", "/_matrix/client/v1/media/download/"+a.name+"/NoSuchMedia123", "", nil)
	if status != http.StatusNotFound || errcode(body) != "M_NOT_FOUND" {
		t.Fatalf("unknown remote media: %d %s, want 404 M_NOT_FOUND", status, body)
	}

	// With A gone, B serves its copy.
	a.stop()
	check("download with the origin stopped")
}

// TestRemoteProfile: a user of B reads the profile of a user of A through
// B's client API; an unknown user of A is not found.
func TestRemoteProfile(t *testing.T) {
	a, b := startNode(t), startNode(t)
	alice, bob := register(t, a, "alice"), register(t, b, "bob")
	alice.must("PUT", "/profile/"+esc(alice.user)+"/displayname", map[string]string{"displayname": "Alice of A"}, nil)
	alice.must("PUT", "/profile/"+esc(alice.user)+"/avatar_url", map[string]string{"avatar_url": "mxc://" + a.name + "/avatar"}, nil)

	var prof struct {
		DisplayName string `json:"displayname"`
		AvatarURL   string `json:"avatar_url"`
	}
	bob.must("GET", "/profile/"+esc(alice.user), nil, &prof)
	if prof.DisplayName != "Alice of A" || prof.AvatarURL != "mxc://"+a.name+"/avatar" {
		t.Fatalf("profile of %s through %s: %+v", alice.user, b.name, prof)
	}
	var name struct {
		DisplayName string `json:"displayname"`
	}
	bob.must("GET", "/profile/"+esc(alice.user)+"/displayname", nil, &name)
	if name.DisplayName != "Alice of A" {
		t.Fatalf("displayname of %s through %s: %+v", alice.user, b.name, name)
	}

	r := bob.do("GET", "/profile/"+esc("@nobody:"+a.name), nil)
	if r.status != http.StatusNotFound || errcode(r.body) != "M_NOT_FOUND" {
		t.Fatalf("profile of an unknown remote user: %d %s, want 404 M_NOT_FOUND", r.status, r.body)
	}
}
