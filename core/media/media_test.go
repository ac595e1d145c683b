package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hearth/core/media/imagecodec"
	"hearth/persist"
	"hearth/persist/memory"
)

const server = "example.org"

// clock is a settable time source for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// newRepo returns a Repo with the standard library's image codec over a
// fresh memory store, after edit changes its Config.
func newRepo(t *testing.T, edit func(*Config)) (*Repo, *memory.Store, *clock) {
	t.Helper()
	db := memory.New()
	clk := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg := Config{ServerName: server, Store: db, Now: clk.now, Rand: rand.NewChaCha8([32]byte{7}), Codec: imagecodec.Codec{}}
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, db, clk
}

// keys lists the store's keys with prefix.
func keys(t *testing.T, db persist.Store, prefix string) []string {
	t.Helper()
	var out []string
	err := db.View(context.Background(), func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: []byte(prefix), KeysOnly: true})
		defer it.Close()
		for it.Next() {
			out = append(out, string(it.Key()))
		}
		return it.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readAll(t *testing.T, f *File) []byte {
	t.Helper()
	b, err := io.ReadAll(f.Open(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pattern returns n bytes that differ from chunk to chunk, so a chunk
// read at the wrong place shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/ChunkSize)
	}
	return b
}

func TestNewChecksConfig(t *testing.T) {
	ok := Config{ServerName: server, Store: memory.New(), Now: time.Now, Rand: rand.NewChaCha8([32]byte{})}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"no server name", func(c *Config) { c.ServerName = "" }},
		{"bad server name", func(c *Config) { c.ServerName = "a/b" }},
		{"no store", func(c *Config) { c.Store = nil }},
		{"no clock", func(c *Config) { c.Now = nil }},
		{"no rand", func(c *Config) { c.Rand = nil }},
		{"negative limit", func(c *Config) { c.MaxUploadSize = -1 }},
	} {
		cfg := ok
		tc.edit(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	r, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxUploadSize() != DefaultMaxUploadSize || r.ServerName() != server {
		t.Errorf("defaults: %d %q", r.MaxUploadSize(), r.ServerName())
	}
}

func TestUploadRoundTrip(t *testing.T) {
	ctx := context.Background()
	r, db, clk := newRepo(t, nil)
	for _, tc := range []struct {
		name   string
		size   int
		chunks int
	}{
		{"empty", 0, 0},
		{"small", 100, 1},
		{"one full chunk", ChunkSize, 1},
		{"multi-chunk", 3*ChunkSize + 17, 4},
	} {
		data := pattern(tc.size)
		id, err := r.Upload(ctx, Upload{Uploader: "@a:" + server, ContentType: "image/png", FileName: "a.png", Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("%s: Upload: %v", tc.name, err)
		}
		if len(id) < 24 || !ValidMediaID(id) {
			t.Errorf("%s: media ID %q", tc.name, id)
		}
		f, err := r.Get(ctx, server, id, false)
		if err != nil {
			t.Fatalf("%s: Get: %v", tc.name, err)
		}
		if got := readAll(t, f); !bytes.Equal(got, data) {
			t.Errorf("%s: read %d bytes, want the %d uploaded", tc.name, len(got), len(data))
		}
		want := Metadata{ServerName: server, MediaID: id, ContentType: "image/png", FileName: "a.png",
			Size: int64(tc.size), SHA256: f.SHA256, Created: clk.now(), Uploader: "@a:" + server}
		if f.Metadata != want || len(f.SHA256) != 64 {
			t.Errorf("%s: metadata %+v, want %+v", tc.name, f.Metadata, want)
		}
		var blobID string
		_ = db.View(ctx, func(tx persist.Tx) error {
			rec, _, err := getRecord(tx, metaKey(server, id))
			blobID = rec.Blob
			return err
		})
		if n := len(keys(t, db, prefixChunk+blobID+"/")); n != tc.chunks {
			t.Errorf("%s: %d chunks stored, want %d", tc.name, n, tc.chunks)
		}
	}
	if n := len(keys(t, db, prefixWrite)); n != 0 {
		t.Errorf("%d write markers left after finished uploads", n)
	}
}

func TestReaderSeeks(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRepo(t, nil)
	data := pattern(2*ChunkSize + 10)
	id, err := r.Upload(ctx, Upload{Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Get(ctx, server, id, false)
	if err != nil {
		t.Fatal(err)
	}
	rs := f.Open(ctx)
	for _, off := range []int64{ChunkSize - 3, 5, 2 * ChunkSize, 2*ChunkSize + 9} {
		if _, err := rs.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		n, _ := io.ReadFull(rs, buf)
		if want := data[off:min(off+6, int64(len(data)))]; !bytes.Equal(buf[:n], want) {
			t.Errorf("at %d: read %v, want %v", off, buf[:n], want)
		}
	}
	if end, _ := rs.Seek(0, io.SeekEnd); end != int64(len(data)) {
		t.Errorf("SeekEnd = %d", end)
	}
	if _, err := rs.Seek(-1, io.SeekStart); err == nil {
		t.Error("negative seek allowed")
	}
}

func TestUploadNormalizesTypeAndName(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRepo(t, nil)
	for _, tc := range []struct {
		ct, name, wantCT, wantName string
	}{
		{"", "", "application/octet-stream", ""},
		{"not a type", "x", "application/octet-stream", "x"},
		{"text/plain; charset=utf-8", "a\r\nb.txt", "text/plain; charset=utf-8", "ab.txt"},
		{"image/jpeg", "Ünïcödé \xff.jpg", "image/jpeg", "Ünïcödé \uFFFD.jpg"},
		{"image/jpeg", strings.Repeat("é", 600), "image/jpeg", strings.Repeat("é", 512)},
	} {
		id, err := r.Upload(ctx, Upload{ContentType: tc.ct, FileName: tc.name, Body: strings.NewReader("x")})
		if err != nil {
			t.Fatal(err)
		}
		f, err := r.Get(ctx, server, id, false)
		if err != nil {
			t.Fatal(err)
		}
		if f.ContentType != tc.wantCT || f.FileName != tc.wantName {
			t.Errorf("Upload(%q, %q) stored %q, %q; want %q, %q", tc.ct, tc.name, f.ContentType, f.FileName, tc.wantCT, tc.wantName)
		}
	}
}

func TestUploadSizeLimit(t *testing.T) {
	ctx := context.Background()
	const limit = ChunkSize + 5
	r, db, _ := newRepo(t, func(c *Config) { c.MaxUploadSize = limit })
	if _, err := r.Upload(ctx, Upload{Body: bytes.NewReader(pattern(limit))}); err != nil {
		t.Fatalf("upload of exactly the limit: %v", err)
	}
	before := keys(t, db, "media/")
	if _, err := r.Upload(ctx, Upload{Body: bytes.NewReader(pattern(limit + 1))}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("upload over the limit: %v, want ErrTooLarge", err)
	}
	if after := keys(t, db, "media/"); len(after) != len(before) {
		t.Errorf("a refused upload left keys behind: %d before, %d after", len(before), len(after))
	}
}

// failingReader yields n bytes, then fails, like a client hanging up.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestFailedUploadLeavesNothing(t *testing.T) {
	ctx := context.Background()
	r, db, _ := newRepo(t, nil)
	if _, err := r.Upload(ctx, Upload{Body: &failingReader{n: 2*ChunkSize + 3}}); err == nil {
		t.Fatal("upload with a failing body succeeded")
	}
	if left := keys(t, db, "media/"); len(left) != 0 {
		t.Errorf("keys left behind: %q", left)
	}
}

func TestSweepRemovesOrphanBlobs(t *testing.T) {
	ctx := context.Background()
	r, db, clk := newRepo(t, nil)
	// A blob whose upload never named it, as after a crash.
	orphan, err := r.writeBlob(ctx, bytes.NewReader(pattern(ChunkSize+1)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.Upload(ctx, Upload{Body: bytes.NewReader(pattern(10))})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Sweep(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("Sweep of a recent blob = %d, %v", n, err)
	}
	clk.advance(2 * time.Hour)
	if n, err := r.Sweep(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if left := keys(t, db, prefixChunk+orphan.id); len(left) != 0 {
		t.Errorf("orphan chunks left: %q", left)
	}
	f, err := r.Get(ctx, server, id, false)
	if err != nil || !bytes.Equal(readAll(t, f), pattern(10)) {
		t.Errorf("a finished upload was swept: %v", err)
	}
}

func TestGetErrors(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRepo(t, nil)
	for _, tc := range []struct {
		server, id string
		want       error
	}{
		{server, "doesNotExist", ErrNotFound},
		{server, "../etc/passwd", ErrInvalidID},
		{server, "a.b", ErrInvalidID},
		{server, "", ErrInvalidID},
		{server, strings.Repeat("a", 256), ErrInvalidID},
		{"bad server!", "abc", ErrInvalidID},
		{"other.org", "abc", ErrNotFound}, // no Remote
	} {
		if _, err := r.Get(ctx, tc.server, tc.id, true); !errors.Is(err, tc.want) {
			t.Errorf("Get(%q, %q) = %v, want %v", tc.server, tc.id, err, tc.want)
		}
	}
}

func TestAsyncUpload(t *testing.T) {
	ctx := context.Background()
	r, db, clk := newRepo(t, func(c *Config) { c.MaxPending = 2 })
	alice, bob := "@alice:"+server, "@bob:"+server
	id, expires, err := r.Create(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.now().Add(DefaultPendingTTL); !expires.Equal(want) {
		t.Errorf("expires %v, want %v", expires, want)
	}
	if _, err := r.Get(ctx, server, id, false); !errors.Is(err, ErrNotYetUploaded) {
		t.Errorf("Get before upload = %v, want ErrNotYetUploaded", err)
	}
	if err := r.UploadTo(ctx, id, Upload{Uploader: bob, Body: strings.NewReader("x")}); !errors.Is(err, ErrForbidden) {
		t.Errorf("upload by another user = %v, want ErrForbidden", err)
	}
	if err := r.UploadTo(ctx, "neverCreated", Upload{Uploader: alice, Body: strings.NewReader("x")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("upload to an unknown ID = %v, want ErrNotFound", err)
	}
	if err := r.UploadTo(ctx, "bad.id", Upload{Uploader: alice, Body: strings.NewReader("x")}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("upload to a malformed ID = %v, want ErrInvalidID", err)
	}
	if err := r.UploadTo(ctx, id, Upload{Uploader: alice, ContentType: "text/plain", FileName: "n.txt", Body: strings.NewReader("hello")}); err != nil {
		t.Fatalf("UploadTo: %v", err)
	}
	f, err := r.Get(ctx, server, id, false)
	if err != nil || string(readAll(t, f)) != "hello" || f.FileName != "n.txt" || f.ContentType != "text/plain" {
		t.Fatalf("Get after UploadTo = %+v, %v", f, err)
	}
	if err := r.UploadTo(ctx, id, Upload{Uploader: alice, Body: strings.NewReader("again")}); !errors.Is(err, ErrCannotOverwrite) {
		t.Errorf("second upload = %v, want ErrCannotOverwrite", err)
	}
	if left := keys(t, db, prefixPending); len(left) != 0 {
		t.Errorf("pending records left after the upload: %q", left)
	}

	// The limit counts live reservations only.
	first, _, err := r.Create(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Create(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Create(ctx, alice); !errors.Is(err, ErrTooManyPending) {
		t.Errorf("third pending = %v, want ErrTooManyPending", err)
	}
	if _, _, err := r.Create(ctx, bob); err != nil {
		t.Errorf("another user's reservation: %v", err)
	}
	clk.advance(DefaultPendingTTL)
	if err := r.UploadTo(ctx, first, Upload{Uploader: alice, Body: strings.NewReader("late")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("upload after expiry = %v, want ErrNotFound", err)
	}
	if _, err := r.Get(ctx, server, first, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an expired reservation = %v, want ErrNotFound", err)
	}
	if _, _, err := r.Create(ctx, alice); err != nil {
		t.Errorf("Create after the others expired: %v", err)
	}
	if n := len(keys(t, db, string(userPrefix(alice)))); n != 1 {
		t.Errorf("%d reservations indexed for alice, want the 1 live one", n)
	}
}

// fakeRemote serves files of other servers from a map.
type fakeRemote struct {
	mu    sync.Mutex
	files map[string]string // "server/id" -> content
	calls atomic.Int32
	gate  chan struct{} // when set, Fetch waits for it
	err   error
}

func (f *fakeRemote) Fetch(ctx context.Context, serverName, mediaID string) (string, string, io.ReadCloser, error) {
	f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	if f.err != nil {
		return "", "", nil, f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	body, ok := f.files[serverName+"/"+mediaID]
	if !ok {
		return "", "", nil, ErrNotFound
	}
	return "text/plain", "remote.txt", io.NopCloser(strings.NewReader(body)), nil
}

func TestRemoteFetchedOnceAndCached(t *testing.T) {
	ctx := context.Background()
	remote := &fakeRemote{files: map[string]string{"other.org/abc": "remote content"}, gate: make(chan struct{})}
	r, _, _ := newRepo(t, func(c *Config) { c.Remote = remote })

	if _, err := r.Get(ctx, "other.org", "abc", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get with allowRemote=false = %v, want ErrNotFound", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			f, err := r.Get(ctx, "other.org", "abc", true)
			if err == nil && string(readAll(t, f)) != "remote content" {
				err = errors.New("wrong content")
			}
			errs <- err
		})
	}
	for remote.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(remote.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	f, err := r.Get(ctx, "other.org", "abc", false)
	if err != nil {
		t.Fatalf("cached remote file: %v", err)
	}
	if f.ContentType != "text/plain" || f.FileName != "remote.txt" || f.Uploader != "" {
		t.Errorf("remote metadata %+v", f.Metadata)
	}
	if n := remote.calls.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	if _, err := r.Get(ctx, "other.org", "missing", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("remote missing file = %v, want ErrNotFound", err)
	}
}

func TestRemoteFailures(t *testing.T) {
	ctx := context.Background()
	remote := &fakeRemote{files: map[string]string{"other.org/big": strings.Repeat("x", 100)}}
	r, db, _ := newRepo(t, func(c *Config) { c.Remote = remote; c.MaxUploadSize = 10 })
	if _, err := r.Get(ctx, "other.org", "big", true); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized remote file = %v, want ErrTooLarge", err)
	}
	remote.err = errors.New("connection refused")
	if _, err := r.Get(ctx, "other.org", "big", true); !errors.Is(err, ErrRemote) {
		t.Errorf("failing remote = %v, want ErrRemote", err)
	}
	if left := keys(t, db, "media/"); len(left) != 0 {
		t.Errorf("failed fetches left keys: %q", left)
	}
}
