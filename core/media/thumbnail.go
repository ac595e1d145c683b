package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"

	"hearth/persist"
)

// Method is how a thumbnail fits the requested size.
type Method string

// Thumbnail methods, as the spec defines them.
const (
	// Scale keeps the image's aspect ratio and fits it inside the
	// requested size: one side equals the request, the other is at most
	// the request.
	Scale Method = "scale"
	// Crop fills the requested size exactly, cutting off what of the
	// image does not have the requested aspect ratio, centred.
	Crop Method = "crop"
)

// MaxThumbnailDimension bounds requested thumbnail sides; larger requests
// are treated as this size (which exceeds any image the thumbnailer
// decodes in at least one side, so nothing changes for real images).
const MaxThumbnailDimension = 1 << 16

// ThumbnailRequest is what a client asks a thumbnail for.
type ThumbnailRequest struct {
	// Width and Height are the smallest size the client wants; both must
	// be positive.
	Width, Height int
	// Method is Scale or Crop.
	Method Method
	// Animated asks for an animated thumbnail where possible. hearth
	// generates still thumbnails only, and serves an animated GIF as is
	// when it is already small enough and Animated is set.
	Animated bool
}

// imageInfo is what the thumbnailer learns from a file's header, kept so
// that later requests need not read it again.
type imageInfo struct {
	// Format is "jpeg", "png" or "gif"; empty for content that is none
	// of them.
	Format string `json:"f"`
	// Width and Height are the stored image's dimensions, before
	// Orientation is applied.
	Width  int `json:"w,omitempty"`
	Height int `json:"h,omitempty"`
	// Orientation is the EXIF orientation of a JPEG, 1 to 8.
	Orientation int `json:"o,omitempty"`
	// Weight is how many pixels each pixel counts as against
	// MaxThumbnailPixels: decoding a 16-bit PNG takes twice the memory
	// per pixel, a progressive JPEG (whose decoder keeps every
	// coefficient) about four times. Zero counts as one.
	Weight int `json:"x,omitempty"`
}

// cost is what the image counts as against MaxThumbnailPixels.
func (in imageInfo) cost() int64 {
	return int64(in.Width) * int64(in.Height) * int64(max(1, in.Weight))
}

// oriented returns the dimensions of the image as displayed.
func (in imageInfo) oriented() (int, int) {
	if in.Orientation >= 5 {
		return in.Height, in.Width
	}
	return in.Width, in.Height
}

func contentTypeOf(format string) string { return "image/" + format }

// Thumbnail returns a thumbnail of mxc://serverName/mediaID no smaller than
// req asks unless the image itself is smaller, as the spec's Thumbnails
// section says: an image already within the requested size is returned as
// it is (a GIF only when req.Animated; otherwise its first frame as PNG).
// Thumbnails of JPEG images are JPEG, of PNG and GIF images PNG; they are
// kept, at most MaxThumbnails per file. A Repo without a Codec returns
// every JPEG, PNG or GIF image as it is, with no Width and Height. Errors
// are those of Get, and ErrCannotThumbnail for content that is not a
// JPEG, PNG or GIF image or a malformed request, and ErrTooLarge for an
// image of more than MaxThumbnailPixels pixels.
func (r *Repo) Thumbnail(ctx context.Context, serverName, mediaID string, req ThumbnailRequest, allowRemote bool) (*File, error) {
	if req.Width < 1 || req.Height < 1 {
		return nil, fmt.Errorf("%w: thumbnail size %dx%d", ErrCannotThumbnail, req.Width, req.Height)
	}
	if req.Method != Scale && req.Method != Crop {
		return nil, fmt.Errorf("%w: method %q", ErrCannotThumbnail, req.Method)
	}
	req.Width = min(req.Width, MaxThumbnailDimension)
	req.Height = min(req.Height, MaxThumbnailDimension)

	src, err := r.Get(ctx, serverName, mediaID, allowRemote)
	if err != nil {
		return nil, err
	}
	info, err := r.imageInfo(ctx, src)
	if err != nil {
		return nil, err
	}
	if info.Format == "" {
		return nil, fmt.Errorf("%w: %s is not a JPEG, PNG or GIF image", ErrCannotThumbnail, URI(serverName, mediaID))
	}
	if r.cfg.Codec == nil {
		return asThumbnail(src, info), nil
	}
	if info.cost() > r.cfg.MaxThumbnailPixels {
		return nil, fmt.Errorf("%w: %dx%d image has more than %d pixels", ErrTooLarge, info.Width, info.Height, r.cfg.MaxThumbnailPixels)
	}
	method, tw, th, original := plan(info, req)
	if original {
		if info.Format != "gif" || req.Animated {
			return asThumbnail(src, info), nil
		}
		// A GIF may be animated: its first frame, at full size.
		method = Scale
	}
	key := thumbKey(serverName, mediaID, method, tw, th)
	if f, err := r.storedThumbnail(ctx, serverName, mediaID, key); f != nil || err != nil {
		return f, err
	}
	select {
	case r.workers <- struct{}{}:
		defer func() { <-r.workers }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// A concurrent request may have made it while this one waited.
	if f, err := r.storedThumbnail(ctx, serverName, mediaID, key); f != nil || err != nil {
		return f, err
	}
	data, format, err := render(src.Open(ctx), r.cfg.Codec, info, method, tw, th)
	if err != nil {
		return nil, fmt.Errorf("media: thumbnailing %s: %w", URI(serverName, mediaID), err)
	}
	rec := record{
		ContentType: contentTypeOf(format),
		FileName:    "thumbnail." + format,
		Size:        int64(len(data)),
		CreatedMS:   r.cfg.Now().UnixMilli(),
		Width:       tw,
		Height:      th,
	}
	return r.keepThumbnail(ctx, serverName, mediaID, key, rec, data)
}

// asThumbnail returns an image file as its own thumbnail.
func asThumbnail(src *File, info imageInfo) *File {
	f := *src
	f.ContentType = contentTypeOf(info.Format)
	f.FileName = "thumbnail." + info.Format
	f.Width, f.Height = info.oriented()
	return &f
}

// plan decides the thumbnail's method and size for an image, or that the
// image itself answers the request (original). For Crop, the part of the
// image kept follows from the output size alone (see cropRect), so the
// size is all a stored thumbnail needs to be found again.
func plan(info imageInfo, req ThumbnailRequest) (method Method, width, height int, original bool) {
	ow, oh := info.oriented()
	if req.Width >= ow && req.Height >= oh {
		return req.Method, ow, oh, true
	}
	if req.Method == Scale {
		w, h := int64(req.Width), int64(req.Height)
		W, H := int64(ow), int64(oh)
		if w*H <= h*W {
			// The width binds.
			return Scale, req.Width, int(max(1, (H*w+W/2)/W)), false
		}
		return Scale, int(max(1, (W*h+H/2)/H)), req.Height, false
	}
	crop := cropRect(ow, oh, req.Width, req.Height)
	if req.Width <= crop.Dx() && req.Height <= crop.Dy() {
		return Crop, req.Width, req.Height, false
	}
	// Filling the request would mean upscaling: keep the largest part of
	// the image with the requested aspect ratio, at its own size.
	if crop.Dx() == ow && crop.Dy() == oh {
		return Crop, ow, oh, true
	}
	return Crop, crop.Dx(), crop.Dy(), false
}

// cropRect is the largest centred rectangle of a w:h aspect ratio inside an
// image of W×H pixels.
func cropRect(W, H, w, h int) image.Rectangle {
	cw, ch := int64(W), int64(H)
	if int64(w)*int64(H) >= int64(h)*int64(W) {
		// Relatively wider than the image: full width.
		ch = max(1, min(int64(H), (int64(W)*int64(h)+int64(w)/2)/int64(w)))
	} else {
		cw = max(1, min(int64(W), (int64(H)*int64(w)+int64(h)/2)/int64(h)))
	}
	x0, y0 := (int64(W)-cw)/2, (int64(H)-ch)/2
	return image.Rect(int(x0), int(y0), int(x0+cw), int(y0+ch))
}

// imageInfo returns what the thumbnailer knows about a file's image,
// reading its header the first time. Without a Codec it learns only the
// format, from the first bytes, each time: such a fact is not worth
// storing, nor should it stand in for the full facts of a Repo with one.
func (r *Repo) imageInfo(ctx context.Context, f *File) (imageInfo, error) {
	if r.cfg.Codec == nil {
		info, err := probe(f.Open(ctx), nil)
		if err != nil {
			return imageInfo{}, fmt.Errorf("media: reading image header of %s: %w", URI(f.ServerName, f.MediaID), err)
		}
		return info, nil
	}
	key := imageKey(f.ServerName, f.MediaID)
	var info imageInfo
	found := false
	err := r.db.View(ctx, func(tx persist.Tx) error {
		v, err := tx.Get(key)
		if errors.Is(err, persist.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return json.Unmarshal(v, &info)
	})
	if err != nil {
		return imageInfo{}, fmt.Errorf("media: reading image facts of %s: %w", URI(f.ServerName, f.MediaID), err)
	}
	if found {
		return info, nil
	}
	info, err = probe(f.Open(ctx), r.cfg.Codec)
	if err != nil {
		return imageInfo{}, fmt.Errorf("media: reading image header of %s: %w", URI(f.ServerName, f.MediaID), err)
	}
	v, err := json.Marshal(info)
	if err != nil {
		return imageInfo{}, err
	}
	if err := r.db.Update(ctx, func(tx persist.Tx) error { return tx.Set(key, v) }); err != nil {
		return imageInfo{}, fmt.Errorf("media: storing image facts of %s: %w", URI(f.ServerName, f.MediaID), err)
	}
	return info, nil
}

// storedThumbnail returns the thumbnail under key, or nil.
func (r *Repo) storedThumbnail(ctx context.Context, serverName, mediaID string, key []byte) (*File, error) {
	var f *File
	err := r.db.View(ctx, func(tx persist.Tx) error {
		rec, ok, err := getRecord(tx, key)
		if ok {
			f = r.file(serverName, mediaID, rec)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("media: reading thumbnail of %s: %w", URI(serverName, mediaID), err)
	}
	return f, nil
}

// keepThumbnail stores a new thumbnail unless the file already has
// MaxThumbnails, and returns it either way.
func (r *Repo) keepThumbnail(ctx context.Context, serverName, mediaID string, key []byte, rec record, data []byte) (*File, error) {
	inMemory := func() *File {
		f := r.file(serverName, mediaID, rec)
		f.data = data
		return f
	}
	full := false
	err := r.db.View(ctx, func(tx persist.Tx) error {
		var err error
		full, err = r.thumbnailsFull(tx, serverName, mediaID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("media: counting thumbnails of %s: %w", URI(serverName, mediaID), err)
	}
	if full {
		return inMemory(), nil
	}
	b, err := r.writeBlob(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	rec.Blob, rec.SHA256 = b.id, b.sha256
	var existing *record
	err = r.db.Update(ctx, func(tx persist.Tx) error {
		old, ok, err := getRecord(tx, key)
		if err != nil {
			return err
		}
		if ok {
			existing = &old
			return nil
		}
		if full, err = r.thumbnailsFull(tx, serverName, mediaID); err != nil || full {
			return err
		}
		if err := adopt(tx, b.id); err != nil {
			return err
		}
		return putRecord(tx, key, rec)
	})
	switch {
	case err != nil:
		r.deleteBlob(ctx, b.id)
		return nil, fmt.Errorf("media: storing thumbnail of %s: %w", URI(serverName, mediaID), err)
	case existing != nil:
		r.deleteBlob(ctx, b.id)
		return r.file(serverName, mediaID, *existing), nil
	case full:
		r.deleteBlob(ctx, b.id)
		return inMemory(), nil
	}
	return r.file(serverName, mediaID, rec), nil
}

// thumbnailsFull reports whether a file has MaxThumbnails thumbnails.
func (r *Repo) thumbnailsFull(tx persist.Tx, serverName, mediaID string) (bool, error) {
	it := tx.Iterate(persist.IterOptions{Prefix: thumbPrefix(serverName, mediaID), KeysOnly: true})
	defer it.Close()
	n := 0
	for n < r.cfg.MaxThumbnails && it.Next() {
		n++
	}
	return n >= r.cfg.MaxThumbnails, it.Err()
}
