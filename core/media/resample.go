package media

import (
	"image"
	"image/color"
	"math"
)

// resample scales the part sr of src down to a new w×h image by area
// averaging: each output pixel is the mean of the source area it covers,
// weighted by how much of each source pixel falls inside it. That is the
// box filter of image reducers, free of the aliasing of point sampling.
// w and h must not exceed sr's size (thumbnails never upscale).
//
// It reads the source one row at a time and keeps two rows of
// accumulators, so besides the output it needs memory for a few rows
// only, however large the source.
func resample(src image.Image, sr image.Rectangle, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	sw, sh := sr.Dx(), sr.Dy()
	if w < 1 || h < 1 || sw < w || sh < h {
		return dst
	}
	xt := taps(sw, w)
	yt := taps(sh, h)
	read := rowReader(src)
	row := make([]uint8, 4*sw)
	hrow := make([]float32, 4*w)
	acc := [2][]float32{make([]float32, 4*w), make([]float32, 4*w)}
	next := 0 // the first output row not yet written
	flush := func(upTo int) {
		for ; next < upTo; next++ {
			a := acc[next%2]
			out := dst.Pix[dst.PixOffset(0, next):][:4*w]
			for i := 0; i < 4*w; i += 4 {
				alpha := clamp8(a[i+3])
				out[i+0] = min(clamp8(a[i+0]), alpha)
				out[i+1] = min(clamp8(a[i+1]), alpha)
				out[i+2] = min(clamp8(a[i+2]), alpha)
				out[i+3] = alpha
			}
			clear(a)
		}
	}
	for y := 0; y < sh; y++ {
		read(row, sr.Min.X, sr.Min.Y+y, sw)
		clear(hrow)
		for x, t := range xt {
			p := row[4*x:][:4]
			for _, tp := range t {
				if tp.w == 0 {
					continue
				}
				o := hrow[4*tp.i:][:4]
				o[0] += tp.w * float32(p[0])
				o[1] += tp.w * float32(p[1])
				o[2] += tp.w * float32(p[2])
				o[3] += tp.w * float32(p[3])
			}
		}
		t := yt[y]
		flush(t[0].i)
		for _, tp := range t {
			if tp.w == 0 {
				continue
			}
			a := acc[tp.i%2]
			for i, v := range hrow {
				a[i] += tp.w * v
			}
		}
	}
	flush(h)
	return dst
}

// tap is a share of a source pixel in output pixel i.
type tap struct {
	i int
	w float32
}

// taps returns, for each of n source pixels along an axis scaled to m
// output pixels (m <= n), the at most two output pixels it falls in and
// the share of each output pixel it makes up. Each output pixel's shares
// sum to 1.
func taps(n, m int) [][2]tap {
	out := make([][2]tap, n)
	// In units where a source pixel is m long and an output pixel n.
	for s := range out {
		a, b := s*m, (s+1)*m
		i := a / n
		end := (i + 1) * n
		if b <= end {
			out[s] = [2]tap{{i, float32(m) / float32(n)}, {i, 0}}
		} else {
			out[s] = [2]tap{{i, float32(end-a) / float32(n)}, {i + 1, float32(b-end) / float32(n)}}
		}
	}
	return out
}

func clamp8(v float32) uint8 {
	return uint8(min(255, max(0, math.Round(float64(v)))))
}

// rowReader returns a function that reads n pixels of src from (x, y) as
// alpha-premultiplied 8-bit RGBA into row, reading the pixel arrays of
// the types the decoders produce directly.
func rowReader(src image.Image) func(row []uint8, x, y, n int) {
	switch s := src.(type) {
	case *image.RGBA:
		return func(row []uint8, x, y, n int) { copy(row, s.Pix[s.PixOffset(x, y):][:4*n]) }
	case *image.NRGBA:
		return func(row []uint8, x, y, n int) {
			p := s.Pix[s.PixOffset(x, y):][:4*n]
			for i := 0; i < 4*n; i += 4 {
				a := uint32(p[i+3])
				row[i+0] = uint8((uint32(p[i+0])*a + 127) / 255)
				row[i+1] = uint8((uint32(p[i+1])*a + 127) / 255)
				row[i+2] = uint8((uint32(p[i+2])*a + 127) / 255)
				row[i+3] = uint8(a)
			}
		}
	case *image.YCbCr:
		return func(row []uint8, x, y, n int) {
			for i := 0; i < n; i++ {
				yi, ci := s.YOffset(x+i, y), s.COffset(x+i, y)
				r, g, b := color.YCbCrToRGB(s.Y[yi], s.Cb[ci], s.Cr[ci])
				row[4*i+0], row[4*i+1], row[4*i+2], row[4*i+3] = r, g, b, 255
			}
		}
	case *image.Gray:
		return func(row []uint8, x, y, n int) {
			p := s.Pix[s.PixOffset(x, y):][:n]
			for i, v := range p {
				row[4*i+0], row[4*i+1], row[4*i+2], row[4*i+3] = v, v, v, 255
			}
		}
	case *image.Paletted:
		var pal [256][4]uint8
		for i, c := range s.Palette {
			if i == len(pal) {
				break
			}
			r, g, b, a := c.RGBA()
			pal[i] = [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
		}
		return func(row []uint8, x, y, n int) {
			p := s.Pix[s.PixOffset(x, y):][:n]
			for i, v := range p {
				copy(row[4*i:][:4], pal[v][:])
			}
		}
	}
	return func(row []uint8, x, y, n int) {
		for i := 0; i < n; i++ {
			r, g, b, a := src.At(x+i, y).RGBA()
			row[4*i+0], row[4*i+1], row[4*i+2], row[4*i+3] = uint8(r>>8), uint8(g>>8), uint8(b>>8), uint8(a>>8)
		}
	}
}
