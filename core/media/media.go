// Package media is hearth's content repository: the files users upload
// (for messages and avatars), copies of other servers' files fetched on
// demand, and thumbnails of images.
//
// A file is a blob, stored in chunks of ChunkSize bytes, each under its own
// key, so that no file ever needs one large value or one large transaction,
// and a metadata record naming the blob. Uploads write every chunk first
// and the metadata last, so a half-written upload is never served: until
// its metadata exists a blob is unreachable. When an upload returns, both
// are durable.
//
// Keys, under the prefix "media/" of the persist store:
//
//	media/m/<server name>/<media ID>                   -> file metadata (JSON)
//	media/b/<blob ID>/<chunk index, 4 bytes BE>        -> chunk bytes
//	media/w/<blob ID>                                  -> when its writing began (ms, 8 bytes BE), until named
//	media/i/<server name>/<media ID>                   -> image facts (JSON), once thumbnailed
//	media/t/<server name>/<media ID>/<method>/<w>x<h>  -> thumbnail metadata (JSON)
//	media/p/<media ID>                                 -> reservation from Create (JSON)
//	media/u/<user ID>\x00<media ID>                    -> "": the user's reservations
//
// Server names never contain '/' and media IDs contain only [A-Za-z0-9_-],
// so the keys cannot run together.
//
// Thumbnails are made from JPEG, PNG and GIF (first frame) images, upright
// by the JPEG's EXIF orientation, scaled by area averaging, and kept by
// output size. Decoding and encoding go through the Config's Codec; a Repo
// without one answers thumbnail requests for images with the images
// themselves. The pixel count of an image is checked from its header
// before its pixels are decoded, so a small file declaring a huge image is
// refused rather than decoded, and decoding runs ThumbnailWorkers at a
// time.
//
// The package reads no clock and no random source of its own and works
// under GOOS=js.
package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"hearth/core/mxid"
	"hearth/persist"
)

// Errors callers map to responses. Returned errors wrap them.
var (
	// ErrNotFound means no such file: an unknown media ID, a remote file
	// that cannot be fetched because there is no Remote, or an expired
	// or unknown pending upload.
	ErrNotFound = errors.New("media: not found")
	// ErrInvalidID means a server name or media ID that is malformed.
	ErrInvalidID = errors.New("media: invalid server name or media ID")
	// ErrTooLarge means a file larger than the upload limit, or an image
	// with more pixels than the thumbnailer decodes.
	ErrTooLarge = errors.New("media: too large")
	// ErrNotYetUploaded means a media ID reserved by Create whose content
	// has not been uploaded yet.
	ErrNotYetUploaded = errors.New("media: not yet uploaded")
	// ErrCannotOverwrite means an upload to a media ID that already has
	// content.
	ErrCannotOverwrite = errors.New("media: media already uploaded")
	// ErrForbidden means an upload to a media ID that another user
	// created.
	ErrForbidden = errors.New("media: media ID belongs to another user")
	// ErrTooManyPending means the user already has MaxPending media IDs
	// reserved and not uploaded.
	ErrTooManyPending = errors.New("media: too many pending uploads")
	// ErrCannotThumbnail means content that is not a JPEG, PNG or GIF
	// image, or a request the thumbnailer cannot meet.
	ErrCannotThumbnail = errors.New("media: cannot thumbnail this content")
	// ErrRemote wraps failures of Remote.Fetch other than ErrNotFound.
	ErrRemote = errors.New("media: fetching remote media failed")
)

// Defaults for the optional Config fields.
const (
	// DefaultMaxUploadSize is 50 MiB, Synapse's default.
	DefaultMaxUploadSize = 50 << 20
	// DefaultMaxThumbnailPixels bounds the images the thumbnailer
	// decodes, so that a small file declaring a huge image cannot make it
	// allocate gigabytes.
	DefaultMaxThumbnailPixels = 40_000_000
	// DefaultPendingTTL is how long a media ID from Create waits for its
	// content, the spec's recommendation.
	DefaultPendingTTL = 24 * time.Hour
	// DefaultMaxPending is how many media IDs from Create a user may hold
	// without content at once.
	DefaultMaxPending = 10
	// DefaultThumbnailWorkers is how many images are decoded at once.
	DefaultThumbnailWorkers = 1
	// DefaultMaxThumbnails is how many thumbnails of one file are kept;
	// sizes beyond it are generated on each request.
	DefaultMaxThumbnails = 16
)

// ChunkSize is the size of every chunk of a blob but the last.
const ChunkSize = 256 << 10

// Remote fetches files from other servers. Fetch returns the file's
// content type and file name (either may be empty) and its bytes, which
// the caller closes; an error wrapping ErrNotFound means the server has no
// such file. Implementations bound how long a fetch may take.
type Remote interface {
	Fetch(ctx context.Context, serverName, mediaID string) (contentType, fileName string, body io.ReadCloser, err error)
}

// Config is what a Repo needs from its surroundings. ServerName, Store, Now
// and Rand are required.
type Config struct {
	// ServerName is this server's name, the authority of the mxc:// URIs
	// of local files.
	ServerName string
	// Store holds the files under the "media/" prefix.
	Store persist.Store
	// Now returns the current time.
	Now func() time.Time
	// Rand is the source of media and blob IDs.
	Rand io.Reader
	// Remote fetches other servers' files; nil makes them not found.
	Remote Remote
	// Codec decodes and encodes images for thumbnails (see
	// core/media/imagecodec). Without one no image is scaled: a
	// thumbnail request for a JPEG, PNG or GIF image is answered with the
	// image itself, which the spec allows (a thumbnail is never smaller
	// than requested unless the image is), and other content cannot be
	// thumbnailed.
	Codec Codec
	// MaxUploadSize is the largest file accepted, in bytes, for uploads
	// and remote files alike; zero means DefaultMaxUploadSize.
	MaxUploadSize int64
	// MaxThumbnailPixels is the largest image (width × height) the
	// thumbnailer decodes; zero means DefaultMaxThumbnailPixels.
	MaxThumbnailPixels int64
	// PendingTTL is how long a media ID from Create stays usable; zero
	// means DefaultPendingTTL.
	PendingTTL time.Duration
	// MaxPending bounds the media IDs a user holds from Create without
	// content; zero means DefaultMaxPending.
	MaxPending int
	// ThumbnailWorkers bounds concurrent image decoding, which is what
	// costs memory; zero means DefaultThumbnailWorkers.
	ThumbnailWorkers int
	// MaxThumbnails bounds the thumbnails stored per file; zero means
	// DefaultMaxThumbnails.
	MaxThumbnails int
}

// Repo is the content repository. It is safe for concurrent use.
type Repo struct {
	cfg     Config
	db      persist.Store
	workers chan struct{} // semaphore of image decoders
	fetches flights       // remote fetches in progress
}

// New checks cfg and returns a Repo.
func New(cfg Config) (*Repo, error) {
	switch {
	case cfg.ServerName == "" || !mxid.ValidServerName(cfg.ServerName):
		return nil, fmt.Errorf("media: invalid server name %q", cfg.ServerName)
	case cfg.Store == nil:
		return nil, errors.New("media: no store")
	case cfg.Now == nil:
		return nil, errors.New("media: no clock (Now)")
	case cfg.Rand == nil:
		return nil, errors.New("media: no random source (Rand)")
	case cfg.MaxUploadSize < 0 || cfg.MaxThumbnailPixels < 0 || cfg.PendingTTL < 0 ||
		cfg.MaxPending < 0 || cfg.ThumbnailWorkers < 0 || cfg.MaxThumbnails < 0:
		return nil, errors.New("media: negative limit")
	}
	if cfg.MaxUploadSize == 0 {
		cfg.MaxUploadSize = DefaultMaxUploadSize
	}
	if cfg.MaxThumbnailPixels == 0 {
		cfg.MaxThumbnailPixels = DefaultMaxThumbnailPixels
	}
	if cfg.PendingTTL == 0 {
		cfg.PendingTTL = DefaultPendingTTL
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.ThumbnailWorkers == 0 {
		cfg.ThumbnailWorkers = DefaultThumbnailWorkers
	}
	if cfg.MaxThumbnails == 0 {
		cfg.MaxThumbnails = DefaultMaxThumbnails
	}
	return &Repo{
		cfg:     cfg,
		db:      cfg.Store,
		workers: make(chan struct{}, cfg.ThumbnailWorkers),
		fetches: flights{m: make(map[string]*flight)},
	}, nil
}

// ServerName returns the server name of local files.
func (r *Repo) ServerName() string { return r.cfg.ServerName }

// MaxUploadSize returns the largest file accepted, in bytes.
func (r *Repo) MaxUploadSize() int64 { return r.cfg.MaxUploadSize }

// URI returns the mxc:// URI of a file.
func URI(serverName, mediaID string) string { return "mxc://" + serverName + "/" + mediaID }
