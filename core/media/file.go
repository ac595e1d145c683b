package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"hearth/persist"
)

// Metadata describes a stored file.
type Metadata struct {
	// ServerName and MediaID name the file: mxc://ServerName/MediaID.
	ServerName string
	MediaID    string
	// ContentType is the type the uploader (or the remote server) gave,
	// application/octet-stream when it gave none.
	ContentType string
	// FileName is the name the uploader gave, or empty.
	FileName string
	// Size is the length of the content in bytes.
	Size int64
	// SHA256 is the hex SHA-256 of the content, usable as an ETag.
	SHA256 string
	// Created is when the content was stored (for remote files, when
	// they were fetched).
	Created time.Time
	// Uploader is the local user who uploaded the file; empty for remote
	// files and thumbnails.
	Uploader string
}

// record is Metadata as stored.
type record struct {
	ContentType string `json:"type"`
	FileName    string `json:"name,omitempty"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	CreatedMS   int64  `json:"ts"`
	Uploader    string `json:"user,omitempty"`
	Blob        string `json:"blob"`
	// Width and Height are set for thumbnails.
	Width  int `json:"w,omitempty"`
	Height int `json:"h,omitempty"`
}

// File is a stored file (or a thumbnail) ready to be read.
type File struct {
	Metadata
	// Width and Height are the dimensions of a thumbnail; zero for
	// other files.
	Width, Height int

	db   persist.Store
	blob string
	data []byte // content held in memory, for thumbnails not stored
}

// Open returns a reader of the file's content. Reads fetch chunks from
// the store under ctx.
func (f *File) Open(ctx context.Context) io.ReadSeeker {
	if f.data != nil {
		return bytes.NewReader(f.data)
	}
	return newBlobReader(ctx, f.db, f.blob, f.Size)
}

func (r *Repo) file(serverName, mediaID string, rec record) *File {
	return &File{
		Metadata: Metadata{
			ServerName:  serverName,
			MediaID:     mediaID,
			ContentType: rec.ContentType,
			FileName:    rec.FileName,
			Size:        rec.Size,
			SHA256:      rec.SHA256,
			Created:     time.UnixMilli(rec.CreatedMS).UTC(),
			Uploader:    rec.Uploader,
		},
		Width:  rec.Width,
		Height: rec.Height,
		db:     r.db,
		blob:   rec.Blob,
	}
}

// getRecord reads the record under key; ok is false when there is none.
func getRecord(tx persist.Tx, key []byte) (rec record, ok bool, err error) {
	v, err := tx.Get(key)
	if errors.Is(err, persist.ErrNotFound) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, err
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return record{}, false, fmt.Errorf("media: corrupt record %q: %w", key, err)
	}
	return rec, true, nil
}

func putRecord(tx persist.Tx, key []byte, rec record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Set(key, v)
}

// Get returns the file mxc://serverName/mediaID. A file of another server
// that is not cached yet is fetched through the Remote once and kept,
// unless allowRemote is false. Errors wrap ErrInvalidID, ErrNotFound,
// ErrNotYetUploaded (a local media ID from Create without content),
// ErrTooLarge (a remote file over the upload limit) or ErrRemote.
func (r *Repo) Get(ctx context.Context, serverName, mediaID string, allowRemote bool) (*File, error) {
	if err := checkIDs(serverName, mediaID); err != nil {
		return nil, err
	}
	for {
		f, pending, err := r.lookup(ctx, serverName, mediaID)
		if err != nil || f != nil {
			return f, err
		}
		if serverName == r.cfg.ServerName {
			if pending {
				return nil, fmt.Errorf("%w: %s", ErrNotYetUploaded, URI(serverName, mediaID))
			}
			return nil, fmt.Errorf("%w: %s", ErrNotFound, URI(serverName, mediaID))
		}
		if !allowRemote || r.cfg.Remote == nil {
			return nil, fmt.Errorf("%w: %s is not cached here", ErrNotFound, URI(serverName, mediaID))
		}
		retry, err := r.fetches.do(ctx, serverName+"/"+mediaID, func() error {
			// A fetch that finished between the lookup above and now
			// has cached the file: fetch only what is still missing.
			if f, _, err := r.lookup(ctx, serverName, mediaID); err != nil || f != nil {
				return err
			}
			return r.fetchRemote(ctx, serverName, mediaID)
		})
		if err != nil {
			return nil, err
		}
		if !retry {
			// Fetched (by this or a concurrent request): read it back.
			f, _, err := r.lookup(ctx, serverName, mediaID)
			if err == nil && f == nil {
				err = fmt.Errorf("%w: %s", ErrNotFound, URI(serverName, mediaID))
			}
			return f, err
		}
	}
}

// lookup reads a file's metadata; pending reports a live reservation from
// Create when there is no file.
func (r *Repo) lookup(ctx context.Context, serverName, mediaID string) (f *File, pending bool, err error) {
	err = r.db.View(ctx, func(tx persist.Tx) error {
		rec, ok, err := getRecord(tx, metaKey(serverName, mediaID))
		if err != nil || ok {
			if ok {
				f = r.file(serverName, mediaID, rec)
			}
			return err
		}
		if serverName != r.cfg.ServerName {
			return nil
		}
		p, ok, err := getPending(tx, mediaID)
		pending = ok && !r.expired(p)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("media: reading %s: %w", URI(serverName, mediaID), err)
	}
	return f, pending, nil
}

// fetchRemote copies a remote file into the store.
func (r *Repo) fetchRemote(ctx context.Context, serverName, mediaID string) error {
	contentType, fileName, body, err := r.cfg.Remote.Fetch(ctx, serverName, mediaID)
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrTooLarge) {
			return err
		}
		return fmt.Errorf("%w: %s: %w", ErrRemote, URI(serverName, mediaID), err)
	}
	defer body.Close()
	b, err := r.writeBlob(ctx, body, r.cfg.MaxUploadSize)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return fmt.Errorf("%w: %s: %w", ErrRemote, URI(serverName, mediaID), err)
	}
	rec := record{
		ContentType: normalizeContentType(contentType),
		FileName:    normalizeFileName(fileName),
		Size:        b.size,
		SHA256:      b.sha256,
		CreatedMS:   r.cfg.Now().UnixMilli(),
		Blob:        b.id,
	}
	stored := false
	err = r.db.Update(ctx, func(tx persist.Tx) error {
		_, exists, err := getRecord(tx, metaKey(serverName, mediaID))
		if err != nil || exists {
			return err
		}
		if err := adopt(tx, b.id); err != nil {
			return err
		}
		stored = true
		return putRecord(tx, metaKey(serverName, mediaID), rec)
	})
	if err != nil || !stored {
		r.deleteBlob(ctx, b.id)
	}
	if err != nil {
		return fmt.Errorf("media: storing %s: %w", URI(serverName, mediaID), err)
	}
	return nil
}
