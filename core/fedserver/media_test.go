package fedserver

import (
	"context"
	"io"
	"strings"
	"testing"

	"hearth/core/fedclient"
	"hearth/core/internal/apitest"
	"hearth/core/media"
	"hearth/persist/memory"
)

func TestMediaDownload(t *testing.T) {
	ctx := context.Background()
	repo, err := media.New(media.Config{ServerName: testServer, Store: memory.New(), Now: apitest.NewClock().Now, Rand: apitest.Seeded(3)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := repo.Upload(ctx, media.Upload{Uploader: "@alice:hs.test", ContentType: "text/plain", FileName: "note.txt", Body: strings.NewReader("hello")})
	if err != nil {
		t.Fatal(err)
	}
	pending, _, err := repo.Create(ctx, "@alice:hs.test")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Media = repo })
	remote := e.client("remote.test")
	m, err := remote.MediaDownload(ctx, testServer, id, 0)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	body, _ := io.ReadAll(m.Body)
	m.Close()
	if string(body) != "hello" || m.ContentType != "text/plain" || !strings.Contains(m.ContentDisposition, "note.txt") {
		t.Fatalf("download: %q, %s, %s", body, m.ContentType, m.ContentDisposition)
	}
	for _, c := range []struct {
		id     string
		status int
	}{
		{"nope", 404},
		{"bad/id", 404},
		{pending, 504},
	} {
		if _, err := remote.MediaDownload(ctx, testServer, c.id, 0); fedclient.StatusOf(err) != c.status {
			t.Errorf("download %s: %v, want %d", c.id, err, c.status)
		}
	}
	bare := newEnv(t, nil)
	if _, err := bare.client("remote.test").MediaDownload(ctx, testServer, id, 0); fedclient.CodeOf(err) != "M_UNRECOGNIZED" {
		t.Fatalf("download without a repository: %v", err)
	}
}
