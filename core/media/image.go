package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
)

// Codec decodes and encodes the images thumbnails are made from. Formats
// are named as sniff names them: "jpeg", "png" and "gif". Config.Codec is
// one; core/media/imagecodec's is the standard library's decoders. It is
// injected so that builds without thumbnails (the browser module) do not
// link image decoders and encoders.
type Codec interface {
	// DecodeConfig reads the colour model and dimensions from the header
	// of an image in format, without decoding its pixels.
	DecodeConfig(format string, r io.Reader) (image.Config, error)
	// Decode decodes an image in format; of a GIF, its first frame.
	Decode(format string, r io.Reader) (image.Image, error)
	// Encode writes img in format, "jpeg" or "png".
	Encode(w io.Writer, format string, img image.Image) error
}

// sniff names the image format that data (the first bytes of a file)
// begins with, or "" for none of JPEG, PNG and GIF. The bytes decide, not
// the uploader's content type.
func sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return "gif"
	}
	return ""
}

// probe reads an image's format, dimensions and orientation from its
// header, without decoding its pixels. Content that is not an image it can
// read gives an imageInfo with an empty Format; failures to read the
// content itself are errors, so that they are not remembered as facts.
// Without a codec it learns the format alone.
func probe(rs io.ReadSeeker, codec Codec) (imageInfo, error) {
	src := &errorReader{rs: rs}
	head := make([]byte, 8)
	n, _ := io.ReadFull(src, head)
	if src.err != nil {
		return imageInfo{}, src.err
	}
	format := sniff(head[:n])
	if format == "" {
		return imageInfo{}, nil
	}
	if codec == nil {
		return imageInfo{Format: format}, nil
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return imageInfo{}, err
	}
	cfg, err := codec.DecodeConfig(format, bufio.NewReader(src))
	if src.err != nil {
		return imageInfo{}, src.err
	}
	if err != nil || cfg.Width < 1 || cfg.Height < 1 {
		// Not an image after all, or one the decoders refuse.
		return imageInfo{}, nil
	}
	info := imageInfo{Format: format, Width: cfg.Width, Height: cfg.Height, Orientation: 1, Weight: 1}
	switch format {
	case "png":
		if cfg.ColorModel == color.RGBA64Model || cfg.ColorModel == color.NRGBA64Model || cfg.ColorModel == color.Gray16Model {
			info.Weight = 2
		}
	case "jpeg":
		if _, err := rs.Seek(0, io.SeekStart); err != nil {
			return imageInfo{}, err
		}
		var progressive bool
		info.Orientation, progressive = scanJPEG(bufio.NewReader(src))
		if src.err != nil {
			return imageInfo{}, src.err
		}
		if progressive {
			info.Weight = 4
		}
	}
	return info, nil
}

// errorReader remembers the first error, other than EOF, of the reader it
// wraps: a failure of the store, as opposed to content a decoder rejects.
type errorReader struct {
	rs  io.Reader
	err error
}

func (e *errorReader) Read(p []byte) (int, error) {
	n, err := e.rs.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

// render decodes the image in rs with codec, takes the part and size that
// method, width and height call for in the image as displayed (after its
// EXIF orientation), and encodes the result: JPEG for JPEG images, PNG for
// the others. The caller has checked the image's dimensions (info) against
// the pixel limit; decoding the same bytes cannot give a larger image.
func render(rs io.ReadSeeker, codec Codec, info imageInfo, method Method, width, height int) (data []byte, format string, err error) {
	var src image.Image
	in := &errorReader{rs: rs}
	br := bufio.NewReader(in)
	switch info.Format {
	case "jpeg", "png":
		src, err = codec.Decode(info.Format, br)
	case "gif":
		src, err = firstFrame(codec, br, info.Width, info.Height)
	default:
		return nil, "", fmt.Errorf("%w: unknown format %q", ErrCannotThumbnail, info.Format)
	}
	if in.err != nil {
		return nil, "", fmt.Errorf("media: reading image: %w", in.err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: decoding %s: %v", ErrCannotThumbnail, info.Format, err)
	}
	if b := src.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height {
		return nil, "", fmt.Errorf("%w: decoded %s image is %dx%d, its header said %dx%d",
			ErrCannotThumbnail, info.Format, b.Dx(), b.Dy(), info.Width, info.Height)
	}

	// Plan in the displayed image, draw in the stored one.
	ow, oh := info.oriented()
	part := image.Rect(0, 0, ow, oh)
	if method == Crop {
		part = cropRect(ow, oh, width, height)
	}
	o := info.Orientation
	sr := unorientRect(part, o, info.Width, info.Height).Add(src.Bounds().Min)
	dw, dh := width, height
	if o >= 5 {
		dw, dh = height, width
	}
	out := orient(resample(src, sr, dw, dh), o)

	format = "png"
	if info.Format == "jpeg" {
		format = "jpeg"
	}
	var buf bytes.Buffer
	if err := codec.Encode(&buf, format, out); err != nil {
		return nil, "", fmt.Errorf("media: encoding thumbnail: %w", err)
	}
	return buf.Bytes(), format, nil
}

// firstFrame decodes a GIF's first frame (and no further) onto a
// transparent canvas of the GIF's full size, width×height from its header,
// since a frame may cover only part of it.
func firstFrame(codec Codec, r io.Reader, width, height int) (image.Image, error) {
	img, err := codec.Decode("gif", r)
	if err != nil {
		return nil, err
	}
	frame, ok := img.(*image.Paletted)
	if !ok {
		return img, nil
	}
	canvas := image.NewRGBA(image.Rect(0, 0, width, height))
	drawPaletted(canvas, frame)
	return canvas, nil
}

// drawPaletted copies a paletted image into dst at the same coordinates,
// clipped to dst.
func drawPaletted(dst *image.RGBA, src *image.Paletted) {
	var pal [256]color.RGBA
	for i, c := range src.Palette {
		if i == len(pal) {
			break
		}
		pal[i] = color.RGBAModel.Convert(c).(color.RGBA)
	}
	r := src.Bounds().Intersect(dst.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		si := src.PixOffset(r.Min.X, y)
		di := dst.PixOffset(r.Min.X, y)
		for x := r.Min.X; x < r.Max.X; x++ {
			c := pal[src.Pix[si]]
			dst.Pix[di+0], dst.Pix[di+1], dst.Pix[di+2], dst.Pix[di+3] = c.R, c.G, c.B, c.A
			si++
			di += 4
		}
	}
}

// unorientRect maps a rectangle of the displayed image to the stored one,
// for an EXIF orientation and the stored image's size W×H.
func unorientRect(r image.Rectangle, o, W, H int) image.Rectangle {
	pt := func(x, y int) image.Point {
		switch o {
		case 2:
			return image.Pt(W-x, y)
		case 3:
			return image.Pt(W-x, H-y)
		case 4:
			return image.Pt(x, H-y)
		case 5:
			return image.Pt(y, x)
		case 6:
			return image.Pt(y, H-x)
		case 7:
			return image.Pt(W-y, H-x)
		case 8:
			return image.Pt(W-y, x)
		}
		return image.Pt(x, y)
	}
	a, b := pt(r.Min.X, r.Min.Y), pt(r.Max.X, r.Max.Y)
	return image.Rectangle{Min: a, Max: b}.Canon()
}

// orient returns src as displayed under an EXIF orientation: mirrored or
// rotated so that the picture is upright.
func orient(src *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return src
	}
	W, H := src.Rect.Dx(), src.Rect.Dy()
	dw, dh := W, H
	if o >= 5 {
		dw, dh = H, W
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = W-1-x, y
			case 3:
				sx, sy = W-1-x, H-1-y
			case 4:
				sx, sy = x, H-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, H-1-x
			case 7:
				sx, sy = W-1-y, H-1-x
			case 8:
				sx, sy = W-1-y, x
			}
			copy(dst.Pix[dst.PixOffset(x, y):][:4], src.Pix[src.PixOffset(sx, sy):][:4])
		}
	}
	return dst
}

// maxHeaderScan bounds how much of a JPEG jpegOrientation reads looking
// for the EXIF segment, which comes before the image data.
const maxHeaderScan = 1 << 20

// scanJPEG reads a JPEG's markers up to its image data and returns its
// EXIF orientation (1 to 8; 1 when it has none or the header cannot be
// read) and whether it is progressive (a SOF2 frame, or any of the other
// non-baseline frame types the decoder treats alike).
func scanJPEG(r *bufio.Reader) (orientation int, progressive bool) {
	orientation = 1
	lr := bufio.NewReader(io.LimitReader(r, maxHeaderScan))
	var soi [2]byte
	if _, err := io.ReadFull(lr, soi[:]); err != nil || soi != [2]byte{0xff, 0xd8} {
		return orientation, false
	}
	exif := false
	for {
		b, err := lr.ReadByte()
		if err != nil || b != 0xff {
			return orientation, progressive
		}
		marker, err := lr.ReadByte()
		for err == nil && marker == 0xff { // fill bytes
			marker, err = lr.ReadByte()
		}
		if err != nil {
			return orientation, progressive
		}
		switch {
		case marker == 0xd8 || marker == 0x01 || marker >= 0xd0 && marker <= 0xd7:
			continue // no length
		case marker == 0xda || marker == 0xd9:
			return orientation, progressive // image data or end
		case marker == 0xc2 || marker == 0xc6 || marker == 0xca || marker == 0xce:
			progressive = true
		}
		var l [2]byte
		if _, err := io.ReadFull(lr, l[:]); err != nil {
			return orientation, progressive
		}
		n := int(binary.BigEndian.Uint16(l[:])) - 2
		if n < 0 {
			return orientation, progressive
		}
		if marker != 0xe1 || exif {
			if _, err := lr.Discard(n); err != nil {
				return orientation, progressive
			}
			continue
		}
		seg := make([]byte, n)
		if _, err := io.ReadFull(lr, seg); err != nil {
			return orientation, progressive
		}
		if o, ok := exifOrientation(seg); ok {
			orientation, exif = o, true
		}
	}
}

// exifOrientation reads the Orientation tag (0x0112) of IFD0 from an APP1
// segment's payload; ok is false when the segment is not EXIF.
func exifOrientation(seg []byte) (int, bool) {
	tiff, ok := bytes.CutPrefix(seg, []byte("Exif\x00\x00"))
	if !ok || len(tiff) < 8 {
		return 0, false
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1, true
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return 1, true
	}
	ifd := int64(bo.Uint32(tiff[4:]))
	if ifd < 8 || ifd+2 > int64(len(tiff)) {
		return 1, true
	}
	count := int64(bo.Uint16(tiff[ifd:]))
	for i := int64(0); i < count; i++ {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(tiff)) {
			break
		}
		entry := tiff[e : e+12]
		// Tag 0x0112, type SHORT (3), one value, stored in the entry.
		if bo.Uint16(entry) == 0x0112 && bo.Uint16(entry[2:]) == 3 {
			if o := int(bo.Uint16(entry[8:])); o >= 1 && o <= 8 {
				return o, true
			}
			return 1, true
		}
	}
	return 1, true
}
