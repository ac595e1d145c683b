// Package imagecodec decodes and encodes JPEG, PNG and GIF images with the
// standard library, for core/media's thumbnails.
//
// It is a package of its own so that only the builds that make thumbnails
// link the decoders and encoders: the native node passes Codec to its
// homeserver, while the browser module, which must stay small, passes
// none and serves images as their own thumbnails.
package imagecodec

import (
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
)

// JPEGQuality is the quality of JPEG thumbnails.
const JPEGQuality = 85

// Codec is core/media's Codec over image/jpeg, image/png and image/gif.
// Its zero value is ready to use and safe for concurrent use.
type Codec struct{}

// DecodeConfig reads the colour model and dimensions from the header of an
// image in format ("jpeg", "png" or "gif") without decoding its pixels.
func (Codec) DecodeConfig(format string, r io.Reader) (image.Config, error) {
	switch format {
	case "jpeg":
		return jpeg.DecodeConfig(r)
	case "png":
		return png.DecodeConfig(r)
	case "gif":
		return gif.DecodeConfig(r)
	}
	return image.Config{}, fmt.Errorf("imagecodec: cannot decode %q images", format)
}

// Decode decodes an image in format ("jpeg", "png" or "gif"); of a GIF,
// only its first frame, as the frame stands (which may cover only part of
// the GIF's area).
func (Codec) Decode(format string, r io.Reader) (image.Image, error) {
	switch format {
	case "jpeg":
		return jpeg.Decode(r)
	case "png":
		return png.Decode(r)
	case "gif":
		return gif.Decode(r)
	}
	return nil, fmt.Errorf("imagecodec: cannot decode %q images", format)
}

// Encode writes img to w in format: "jpeg" (at JPEGQuality) or "png".
func (Codec) Encode(w io.Writer, format string, img image.Image) error {
	switch format {
	case "jpeg":
		return jpeg.Encode(w, img, &jpeg.Options{Quality: JPEGQuality})
	case "png":
		return png.Encode(w, img)
	}
	return fmt.Errorf("imagecodec: cannot encode %q images", format)
}
