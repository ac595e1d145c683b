package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"sync/atomic"
	"testing"

	"hearth/persist"
	"hearth/persist/memory"
)

var (
	red    = color.RGBA{255, 0, 0, 255}
	green  = color.RGBA{0, 255, 0, 255}
	blue   = color.RGBA{0, 0, 255, 255}
	yellow = color.RGBA{255, 255, 0, 255}
)

// bands returns a w×h image of vertical bands of the given colours, of
// equal width.
func bands(w, h int, colors ...color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, colors[x*len(colors)/w])
		}
	}
	return img
}

// quadrants returns a w×h image whose quarters are red (top left), green
// (top right), blue (bottom left) and yellow (bottom right).
func quadrants(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := [2][2]color.RGBA{{red, green}, {blue, yellow}}[y*2/h][x*2/w]
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withOrientation inserts an EXIF segment with an orientation tag after
// a JPEG's SOI marker.
func withOrientation(jpg []byte, o uint16, order binary.AppendByteOrder) []byte {
	tiff := []byte("MM\x00\x2a")
	if order == binary.LittleEndian {
		tiff = []byte("II\x2a\x00")
	}
	tiff = order.AppendUint32(tiff, 8)
	tiff = order.AppendUint16(tiff, 1)      // one entry
	tiff = order.AppendUint16(tiff, 0x0112) // Orientation
	tiff = order.AppendUint16(tiff, 3)      // SHORT
	tiff = order.AppendUint32(tiff, 1)      // one value
	tiff = order.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0) // padding, next IFD 0
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xff, 0xe1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func upload(t *testing.T, r *Repo, ct string, data []byte) string {
	t.Helper()
	id, err := r.Upload(context.Background(), Upload{ContentType: ct, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// decodeThumb reads a thumbnail and decodes it with the decoder its
// content type names.
func decodeThumb(t *testing.T, f *File) image.Image {
	t.Helper()
	data := readAll(t, f)
	var img image.Image
	var err error
	switch f.ContentType {
	case "image/jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	case "image/png":
		img, err = png.Decode(bytes.NewReader(data))
	case "image/gif":
		img, err = gif.Decode(bytes.NewReader(data))
	default:
		t.Fatalf("thumbnail content type %q", f.ContentType)
	}
	if err != nil {
		t.Fatalf("decoding %s thumbnail: %v", f.ContentType, err)
	}
	return img
}

// near reports whether c is within 40 of want in every channel.
func near(c color.Color, want color.RGBA) bool {
	r, g, b, a := c.RGBA()
	d := func(x uint32, y uint8) bool { return int(x>>8)-int(y) < 40 && int(y)-int(x>>8) < 40 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B) && d(a, want.A)
}

func TestThumbnailSizes(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRepo(t, nil)
	pngID := upload(t, r, "image/png", encodePNG(t, bands(200, 100, red, green)))
	jpgID := upload(t, r, "image/jpeg", encodeJPEG(t, bands(200, 100, red, green)))
	for _, tc := range []struct {
		name         string
		id           string
		w, h         int
		method       Method
		wantW, wantH int
		wantType     string
		wantOriginal bool
	}{
		{"scale, width binds", pngID, 50, 50, Scale, 50, 25, "image/png", false},
		{"scale, height binds", pngID, 100, 20, Scale, 40, 20, "image/png", false},
		{"scale, one side as large as the image", pngID, 200, 50, Scale, 100, 50, "image/png", false},
		{"scale jpeg stays jpeg", jpgID, 32, 32, Scale, 32, 16, "image/jpeg", false},
		{"crop", jpgID, 50, 50, Crop, 50, 50, "image/jpeg", false},
		{"crop 96", pngID, 96, 96, Crop, 96, 96, "image/png", false},
		{"crop wide", pngID, 80, 20, Crop, 80, 20, "image/png", false},
		{"crop without upscaling", pngID, 150, 150, Crop, 100, 100, "image/png", false},
		{"crop wider than the image", pngID, 300, 50, Crop, 200, 33, "image/png", false},
		{"scale larger than the image", pngID, 400, 400, Scale, 200, 100, "image/png", true},
		{"crop larger than the image", jpgID, 300, 100, Crop, 200, 100, "image/jpeg", true},
	} {
		f, err := r.Thumbnail(ctx, server, tc.id, ThumbnailRequest{Width: tc.w, Height: tc.h, Method: tc.method}, false)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if f.ContentType != tc.wantType {
			t.Errorf("%s: content type %q, want %q", tc.name, f.ContentType, tc.wantType)
		}
		img := decodeThumb(t, f)
		if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH {
			t.Errorf("%s: decoded %dx%d, want %dx%d", tc.name, b.Dx(), b.Dy(), tc.wantW, tc.wantH)
		}
		src, _ := r.Get(ctx, server, tc.id, false)
		if original := bytes.Equal(readAll(t, f), readAll(t, src)); original != tc.wantOriginal {
			t.Errorf("%s: served the original: %v, want %v", tc.name, original, tc.wantOriginal)
		}
	}
}

func TestThumbnailCropsTheCentre(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRepo(t, nil)
	id := upload(t, r, "image/png", encodePNG(t, bands(300, 100, red, green, blue)))

	f, err := r.Thumbnail(ctx, server, id, ThumbnailRequest{Width: 40, Height: 40, Method: Crop}, false)
	if err != nil {
		t.Fatal(err)
	}
	img := decodeThumb(t, f)
	for _, p := range []image.Point{{1, 1}, {20, 20}, {38, 38}} {
		if c := img.At(p.X, p.Y); !near(c, green) {
			t.Errorf("crop pixel %v = %v, want the green centre band", p, c)
		}
	}
	f, err = r.Thumbnail(ctx, server, id, ThumbnailRequest{Width: 60, Height: 60, Method: Scale}, false)
	if err != nil {
		t.Fatal(err)
	}
	img = decodeThumb(t, f)
	if b := img.Bounds(); b.Dx() != 60 || b.Dy() != 20 {
		t.Fatalf("scale: %v", b)
	}
	for _, tc := range []struct {
		x    int
		want color.RGBA
	}{{2, red}, {30, green}, {57, blue}} {
		if c := img.At(tc.x, 10); !near(c, tc.want) {
			t.Errorf("scale pixel x=%d = %v, want %v", tc.x, c, tc.want)
		}
	}
}

func TestThumbnailFollowsEXIFOrientation(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRepo(t, nil)
	raw := encodeJPEG(t, quadrants(80, 40))
	// The colours of the displayed image's quadrants: top left, top
	// right, bottom left, bottom right.
	for _, tc := range []struct {
		o    uint16
		want [4]color.RGBA
	}{
		{1, [4]color.RGBA{red, green, blue, yellow}},
		{2, [4]color.RGBA{green, red, yellow, blue}},
		{3, [4]color.RGBA{yellow, blue, green, red}},
		{4, [4]color.RGBA{blue, yellow, red, green}},
		{5, [4]color.RGBA{red, blue, green, yellow}},
		{6, [4]color.RGBA{blue, red, yellow, green}},
		{7, [4]color.RGBA{yellow, green, blue, red}},
		{8, [4]color.RGBA{green, yellow, red, blue}},
	} {
		for _, order := range []binary.AppendByteOrder{binary.BigEndian, binary.LittleEndian} {
			id := upload(t, r, "image/jpeg", withOrientation(raw, tc.o, order))
			f, err := r.Thumbnail(ctx, server, id, ThumbnailRequest{Width: 20, Height: 20, Method: Scale}, false)
			if err != nil {
				t.Fatal(err)
			}
			img := decodeThumb(t, f)
			w, h := 20, 10
			if tc.o >= 5 {
				w, h = 10, 20
			}
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Errorf("orientation %d: %dx%d, want %dx%d", tc.o, b.Dx(), b.Dy(), w, h)
				continue
			}
			pts := []image.Point{{w / 4, h / 4}, {3 * w / 4, h / 4}, {w / 4, 3 * h / 4}, {3 * w / 4, 3 * h / 4}}
			for i, p := range pts {
				if c := img.At(p.X, p.Y); !near(c, tc.want[i]) {
					t.Errorf("orientation %d (%v): pixel %v = %v, want %v", tc.o, order, p, c, tc.want[i])
				}
			}
		}
	}
}

func TestThumbnailGIF(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRepo(t, nil)
	pal := color.Palette{color.RGBA{}, red, blue}
	// Two frames; the first covers only the bottom right quarter.
	f1 := image.NewPaletted(image.Rect(20, 20, 40, 40), pal)
	for i := range f1.Pix {
		f1.Pix[i] = 1
	}
	f2 := image.NewPaletted(image.Rect(0, 0, 40, 40), pal)
	for i := range f2.Pix {
		f2.Pix[i] = 2
	}
	var buf bytes.Buffer
	err := gif.EncodeAll(&buf, &gif.GIF{
		Image: []*image.Paletted{f1, f2}, Delay: []int{10, 10},
		Config: image.Config{ColorModel: pal, Width: 40, Height: 40},
	})
	if err != nil {
		t.Fatal(err)
	}
	original := buf.Bytes()
	id := upload(t, r, "image/gif", original)

	// Small enough already: the animation itself when asked for.
	f, err := r.Thumbnail(ctx, server, id, ThumbnailRequest{Width: 64, Height: 64, Method: Scale, Animated: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.ContentType != "image/gif" || !bytes.Equal(readAll(t, f), original) {
		t.Errorf("animated request for a small GIF: %s, not the original", f.ContentType)
	}
	// Otherwise a still first frame, full size.
	f, err = r.Thumbnail(ctx, server, id, ThumbnailRequest{Width: 64, Height: 64, Method: Scale}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.ContentType != "image/png" {
		t.Fatalf("still thumbnail of a GIF is %s", f.ContentType)
	}
	img := decodeThumb(t, f)
	if b := img.Bounds(); b.Dx() != 40 || b.Dy() != 40 {
		t.Errorf("still frame %v, want 40x40", b)
	}
	// Scaled: the first frame in its place on a transparent canvas.
	f, err = r.Thumbnail(ctx, server, id, ThumbnailRequest{Width: 20, Height: 20, Method: Scale, Animated: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	img = decodeThumb(t, f)
	if b := img.Bounds(); b.Dx() != 20 || b.Dy() != 20 || f.ContentType != "image/png" {
		t.Fatalf("scaled GIF: %s %v", f.ContentType, b)
	}
	if _, _, _, a := img.At(3, 3).RGBA(); a != 0 {
		t.Errorf("top left of the first frame's canvas is not transparent: %v", img.At(3, 3))
	}
	if c := img.At(16, 16); !near(c, red) {
		t.Errorf("bottom right = %v, want the first frame's red", c)
	}
}

func TestThumbnailRefusals(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRepo(t, func(c *Config) { c.MaxThumbnailPixels = 10_000 })
	textID := upload(t, r, "text/plain", []byte("just text"))
	svgID := upload(t, r, "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))
	brokenID := upload(t, r, "image/png", []byte("\x89PNG\r\n\x1a\n and then nothing"))
	bigID := upload(t, r, "image/png", encodePNG(t, bands(200, 100, red)))
	okID := upload(t, r, "image/png", encodePNG(t, bands(100, 100, red)))

	// A PNG whose header claims 100000×100000 pixels: refused before its
	// pixels are decoded.
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), 100000)
	ihdr = binary.BigEndian.AppendUint32(ihdr, 100000)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	hostile := []byte("\x89PNG\r\n\x1a\n")
	hostile = binary.BigEndian.AppendUint32(hostile, 13)
	hostile = append(hostile, ihdr...)
	hostile = binary.BigEndian.AppendUint32(hostile, crc32.ChecksumIEEE(ihdr))
	hostileID := upload(t, r, "image/png", hostile)

	for _, tc := range []struct {
		name string
		id   string
		req  ThumbnailRequest
		want error
	}{
		{"text", textID, ThumbnailRequest{Width: 32, Height: 32, Method: Crop}, ErrCannotThumbnail},
		{"svg", svgID, ThumbnailRequest{Width: 32, Height: 32, Method: Crop}, ErrCannotThumbnail},
		{"broken png", brokenID, ThumbnailRequest{Width: 32, Height: 32, Method: Crop}, ErrCannotThumbnail},
		{"too many pixels", bigID, ThumbnailRequest{Width: 32, Height: 32, Method: Crop}, ErrTooLarge},
		{"hostile header", hostileID, ThumbnailRequest{Width: 32, Height: 32, Method: Scale}, ErrTooLarge},
		{"zero width", okID, ThumbnailRequest{Width: 0, Height: 32, Method: Scale}, ErrCannotThumbnail},
		{"bad method", okID, ThumbnailRequest{Width: 32, Height: 32, Method: "fit"}, ErrCannotThumbnail},
		{"unknown media", "nope", ThumbnailRequest{Width: 32, Height: 32, Method: Scale}, ErrNotFound},
	} {
		// Twice: the second answer comes from the stored image facts.
		for range 2 {
			if _, err := r.Thumbnail(ctx, server, tc.id, tc.req, false); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
	}
	if _, err := r.Thumbnail(ctx, server, okID, ThumbnailRequest{Width: 32, Height: 32, Method: Scale}, false); err != nil {
		t.Errorf("an image within the pixel limit: %v", err)
	}
}

func TestThumbnailWithoutCodec(t *testing.T) {
	ctx := context.Background()
	r, db, _ := newRepo(t, func(c *Config) { c.Codec = nil; c.MaxThumbnailPixels = 10_000 })
	var gifData bytes.Buffer
	if err := gif.Encode(&gifData, bands(40, 20, red, green), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, uploaded string
		data           []byte
		want           string // content type of the answer; "" for ErrCannotThumbnail
	}{
		// Over the pixel limit too: nothing is decoded, so nothing is refused.
		{"png", "application/octet-stream", encodePNG(t, bands(200, 100, red, green)), "image/png"},
		{"jpeg", "image/jpeg", encodeJPEG(t, bands(20, 10, red)), "image/jpeg"},
		{"gif", "image/gif", gifData.Bytes(), "image/gif"},
		{"broken png", "image/png", []byte("\x89PNG\r\n\x1a\n and then nothing"), "image/png"},
		{"text", "text/plain", []byte("just text"), ""},
	} {
		id := upload(t, r, tc.uploaded, tc.data)
		for _, req := range []ThumbnailRequest{{Width: 8, Height: 8, Method: Crop}, {Width: 32, Height: 32, Method: Scale}} {
			f, err := r.Thumbnail(ctx, server, id, req, false)
			if tc.want == "" {
				if !errors.Is(err, ErrCannotThumbnail) {
					t.Errorf("%s %v: %v, want %v", tc.name, req, err, ErrCannotThumbnail)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s %v: %v", tc.name, req, err)
			}
			if f.ContentType != tc.want || !bytes.Equal(readAll(t, f), tc.data) {
				t.Errorf("%s %v: %s of %d bytes, want the image itself as %s", tc.name, req, f.ContentType, f.Size, tc.want)
			}
		}
	}
	if n := len(keys(t, db, prefixThumb)) + len(keys(t, db, prefixImage)); n != 0 {
		t.Errorf("%d thumbnails or image facts stored without a codec", n)
	}
}

func TestThumbnailsAreKept(t *testing.T) {
	ctx := context.Background()
	r, db, _ := newRepo(t, func(c *Config) { c.MaxThumbnails = 2 })
	id := upload(t, r, "image/png", encodePNG(t, bands(200, 100, red, green)))
	req := ThumbnailRequest{Width: 50, Height: 50, Method: Scale}
	first, err := r.Thumbnail(ctx, server, id, req, false)
	if err != nil {
		t.Fatal(err)
	}
	// Another request with the same outcome (50x25) finds the same one.
	again, err := r.Thumbnail(ctx, server, id, ThumbnailRequest{Width: 50, Height: 30, Method: Scale}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, first), readAll(t, again)) || first.blob == "" || first.blob != again.blob {
		t.Error("the same thumbnail was not served from the store")
	}
	if n := len(keys(t, db, prefixThumb)); n != 1 {
		t.Errorf("%d thumbnails stored, want 1", n)
	}
	for _, req := range []ThumbnailRequest{{Width: 32, Height: 32, Method: Crop}, {Width: 96, Height: 96, Method: Crop}} {
		f, err := r.Thumbnail(ctx, server, id, req, false)
		if err != nil {
			t.Fatal(err)
		}
		if img := decodeThumb(t, f); img.Bounds().Dx() != req.Width {
			t.Errorf("%v: %v", req, img.Bounds())
		}
	}
	if n := len(keys(t, db, prefixThumb)); n != 2 {
		t.Errorf("%d thumbnails stored, want the limit of 2", n)
	}
	if n := len(keys(t, db, prefixWrite)); n != 0 {
		t.Errorf("%d write markers left", n)
	}
}

func TestPlanNeverUpscales(t *testing.T) {
	for _, W := range []int{1, 3, 17, 640, 1000} {
		for _, H := range []int{1, 5, 480, 999} {
			for _, w := range []int{1, 2, 32, 96, 320, 800, 5000} {
				for _, h := range []int{1, 3, 32, 96, 240, 600, 5000} {
					for _, m := range []Method{Scale, Crop} {
						_, tw, th, original := plan(imageInfo{Format: "png", Width: W, Height: H, Orientation: 1}, ThumbnailRequest{Width: w, Height: h, Method: m})
						if tw < 1 || th < 1 || tw > W || th > H {
							t.Fatalf("%dx%d image, %s %dx%d: %dx%d", W, H, m, w, h, tw, th)
						}
						if original && (tw != W || th != H) {
							t.Fatalf("%dx%d image, %s %dx%d: original at %dx%d", W, H, m, w, h, tw, th)
						}
						// Never smaller than asked unless the image is.
						if m == Crop && !original && (tw < min(w, W) && th < min(h, H)) {
							t.Fatalf("%dx%d image, crop %dx%d: %dx%d is smaller than it must be", W, H, w, h, tw, th)
						}
						if m == Scale && !original && tw != w && th != h {
							t.Fatalf("%dx%d image, scale %dx%d: %dx%d matches neither side", W, H, w, h, tw, th)
						}
					}
				}
			}
		}
	}
}

func TestThumbnailPixelWeights(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRepo(t, func(c *Config) { c.MaxThumbnailPixels = 10_000 })
	baseline := encodeJPEG(t, bands(60, 60, red))
	// The same header marked progressive (SOF2): refused on its header
	// alone, so the data need not be progressive.
	progressive := bytes.Clone(baseline)
	sof := bytes.Index(progressive, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no SOF0 marker")
	}
	progressive[sof+1] = 0xc2
	wide := image.NewRGBA64(image.Rect(0, 0, 80, 80))
	for i := range wide.Pix {
		wide.Pix[i] = byte(i)
	}
	req := ThumbnailRequest{Width: 10, Height: 10, Method: Scale}
	for _, tc := range []struct {
		name string
		ct   string
		data []byte
		want error
	}{
		{"baseline jpeg", "image/jpeg", baseline, nil},
		{"progressive jpeg counts four times", "image/jpeg", progressive, ErrTooLarge},
		{"8-bit png", "image/png", encodePNG(t, bands(80, 80, red)), nil},
		{"16-bit png counts twice", "image/png", encodePNG(t, wide), ErrTooLarge},
	} {
		id := upload(t, r, tc.ct, tc.data)
		if _, err := r.Thumbnail(ctx, server, id, req, false); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// flakyStore fails reads of blob chunks while fail is set.
type flakyStore struct {
	persist.Store
	fail atomic.Bool
}

func (s *flakyStore) View(ctx context.Context, fn func(persist.Tx) error) error {
	return s.Store.View(ctx, func(tx persist.Tx) error { return fn(flakyTx{tx, s}) })
}

type flakyTx struct {
	persist.Tx
	s *flakyStore
}

func (t flakyTx) Get(key []byte) ([]byte, error) {
	if t.s.fail.Load() && bytes.HasPrefix(key, []byte(prefixChunk)) {
		return nil, errors.New("disk error")
	}
	return t.Tx.Get(key)
}

func TestThumbnailStoreFailureIsNotRemembered(t *testing.T) {
	ctx := context.Background()
	db := &flakyStore{Store: memory.New()}
	r, _, _ := newRepo(t, func(c *Config) { c.Store = db })
	id := upload(t, r, "image/png", encodePNG(t, bands(100, 100, red)))
	req := ThumbnailRequest{Width: 10, Height: 10, Method: Crop}
	db.fail.Store(true)
	if _, err := r.Thumbnail(ctx, server, id, req, false); err == nil || errors.Is(err, ErrCannotThumbnail) {
		t.Fatalf("thumbnail while the store fails: %v, want a store error", err)
	}
	db.fail.Store(false)
	f, err := r.Thumbnail(ctx, server, id, req, false)
	if err != nil {
		t.Fatalf("thumbnail after the store recovered: %v", err)
	}
	if img := decodeThumb(t, f); img.Bounds().Dx() != 10 {
		t.Errorf("thumbnail %v", img.Bounds())
	}
}

func TestResampleAveragesAreas(t *testing.T) {
	// 3 → 2 pixels: the first output covers source [0, 1.5), the second
	// [1.5, 3).
	g := image.NewGray(image.Rect(10, 20, 13, 21))
	copy(g.Pix, []uint8{0, 90, 180})
	out := resample(g, g.Bounds(), 2, 1)
	if got := []uint8{out.Pix[0], out.Pix[4]}; got[0] != 30 || got[1] != 150 {
		t.Errorf("3→2 gray = %v, want [30 150]", got)
	}

	// 2×2 blocks of one colour each reduce to exactly that colour.
	q := quadrants(8, 8)
	out = resample(q, q.Bounds(), 2, 2)
	for i, want := range []color.RGBA{red, green, blue, yellow} {
		if got := out.RGBAAt(i%2, i/2); got != want {
			t.Errorf("quadrant %d = %v, want %v", i, got, want)
		}
	}
	// Same size: unchanged.
	if out := resample(q, q.Bounds(), 8, 8); !bytes.Equal(out.Pix, q.Pix) {
		t.Error("resampling to the same size changed pixels")
	}
	// A sub-rectangle: the green quarter alone.
	out = resample(q, image.Rect(4, 0, 8, 4), 1, 1)
	if got := out.RGBAAt(0, 0); got != green {
		t.Errorf("sub-rectangle = %v, want green", got)
	}

	// Alpha: half-transparent red stays red, half transparent, and mixing
	// it with a transparent pixel does not darken it.
	n := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	copy(n.Pix, []uint8{255, 0, 0, 128, 0, 0, 0, 0})
	out = resample(n, n.Bounds(), 1, 1)
	if got := color.NRGBAModel.Convert(out.RGBAAt(0, 0)).(color.NRGBA); got.R < 250 || got.G != 0 || got.A != 64 {
		t.Errorf("alpha average = %v, want red at alpha 64", got)
	}
}
