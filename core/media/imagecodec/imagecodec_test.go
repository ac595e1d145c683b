package imagecodec

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"testing"
)

func TestCodec(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 12, 8))
	for i := range src.Pix {
		src.Pix[i] = 255
	}
	var gifData bytes.Buffer
	if err := gif.Encode(&gifData, src, nil); err != nil {
		t.Fatal(err)
	}
	var c Codec
	for _, tc := range []struct {
		format string
		data   func(t *testing.T) []byte
	}{
		{"jpeg", func(t *testing.T) []byte { return encode(t, c, "jpeg", src) }},
		{"png", func(t *testing.T) []byte { return encode(t, c, "png", src) }},
		{"gif", func(*testing.T) []byte { return gifData.Bytes() }},
	} {
		data := tc.data(t)
		cfg, err := c.DecodeConfig(tc.format, bytes.NewReader(data))
		if err != nil || cfg.Width != 12 || cfg.Height != 8 {
			t.Errorf("%s: DecodeConfig = %+v, %v", tc.format, cfg, err)
		}
		img, err := c.Decode(tc.format, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: Decode: %v", tc.format, err)
		}
		if b := img.Bounds(); b.Dx() != 12 || b.Dy() != 8 {
			t.Errorf("%s: decoded %v", tc.format, b)
		}
		if r, g, b, _ := img.At(3, 3).RGBA(); r>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
			t.Errorf("%s: pixel %v, want white", tc.format, color.RGBAModel.Convert(img.At(3, 3)))
		}
	}
	if _, err := c.DecodeConfig("webp", bytes.NewReader(nil)); err == nil {
		t.Error("DecodeConfig of webp succeeded")
	}
	if _, err := c.Decode("webp", bytes.NewReader(nil)); err == nil {
		t.Error("Decode of webp succeeded")
	}
	if err := c.Encode(&bytes.Buffer{}, "gif", src); err == nil {
		t.Error("Encode to gif succeeded")
	}
}

func encode(t *testing.T, c Codec, format string, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := c.Encode(&b, format, img); err != nil {
		t.Fatalf("encoding %s: %v", format, err)
	}
	return b.Bytes()
}
