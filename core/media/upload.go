package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"hearth/persist"
)

// MaxFileNameLength bounds stored file names, in bytes; longer names are
// cut at a character boundary.
const MaxFileNameLength = 1024

// Upload is content to store.
type Upload struct {
	// Uploader is the local user uploading.
	Uploader string
	// ContentType is the Content-Type the client sent; empty means
	// application/octet-stream.
	ContentType string
	// FileName is the optional name of the file.
	FileName string
	// Body is the content; Upload reads it to EOF or to one byte past
	// the size limit.
	Body io.Reader
}

// Upload stores a new local file and returns its media ID. The content and
// its metadata are durable when Upload returns. Content larger than
// MaxUploadSize fails with ErrTooLarge and leaves nothing behind.
func (r *Repo) Upload(ctx context.Context, u Upload) (string, error) {
	b, err := r.writeBlob(ctx, u.Body, r.cfg.MaxUploadSize)
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		id, err := r.newMediaID()
		if err != nil {
			r.deleteBlob(ctx, b.id)
			return "", err
		}
		taken := false
		err = r.db.Update(ctx, func(tx persist.Tx) error {
			_, exists, err := getRecord(tx, metaKey(r.cfg.ServerName, id))
			if err != nil {
				return err
			}
			_, reserved, err := getPending(tx, id)
			if err != nil {
				return err
			}
			if exists || reserved {
				taken = true
				return nil
			}
			if err := adopt(tx, b.id); err != nil {
				return err
			}
			return putRecord(tx, metaKey(r.cfg.ServerName, id), r.newRecord(u, b))
		})
		if err != nil {
			r.deleteBlob(ctx, b.id)
			return "", fmt.Errorf("media: storing upload: %w", err)
		}
		if !taken {
			return id, nil
		}
		if attempt == 3 {
			// 142 random bits never collide; a source that repeats
			// itself is broken.
			r.deleteBlob(ctx, b.id)
			return "", errors.New("media: random source keeps repeating media IDs")
		}
	}
}

func (r *Repo) newRecord(u Upload, b blob) record {
	return record{
		ContentType: normalizeContentType(u.ContentType),
		FileName:    normalizeFileName(u.FileName),
		Size:        b.size,
		SHA256:      b.sha256,
		CreatedMS:   r.cfg.Now().UnixMilli(),
		Uploader:    u.Uploader,
		Blob:        b.id,
	}
}

// normalizeContentType returns the content type to store: the client's, or
// application/octet-stream when it is missing or not a media type at all.
func normalizeContentType(ct string) string {
	ct = strings.TrimSpace(ct)
	if ct == "" {
		return "application/octet-stream"
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return "application/octet-stream"
	}
	return ct
}

// normalizeFileName returns the file name to store: valid UTF-8 without
// control characters (which no header could carry), cut to
// MaxFileNameLength bytes.
func normalizeFileName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if len(name) > MaxFileNameLength {
		cut := MaxFileNameLength
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	return name
}

// pending is a media ID reserved by Create.
type pending struct {
	User      string `json:"user"`
	ExpiresMS int64  `json:"expires"`
}

func getPending(tx persist.Tx, mediaID string) (p pending, ok bool, err error) {
	v, err := tx.Get(pendingKey(mediaID))
	if errors.Is(err, persist.ErrNotFound) {
		return pending{}, false, nil
	}
	if err != nil {
		return pending{}, false, err
	}
	if err := json.Unmarshal(v, &p); err != nil {
		return pending{}, false, fmt.Errorf("media: corrupt pending upload %s: %w", mediaID, err)
	}
	return p, true, nil
}

func (r *Repo) expired(p pending) bool {
	return r.cfg.Now().UnixMilli() >= p.ExpiresMS
}

// Create reserves a media ID for userID's later upload through UploadTo
// (the spec's asynchronous upload) and returns it with the time the
// reservation expires. A user holding MaxPending live reservations gets
// ErrTooManyPending.
func (r *Repo) Create(ctx context.Context, userID string) (string, time.Time, error) {
	expires := r.cfg.Now().Add(r.cfg.PendingTTL)
	for attempt := 0; ; attempt++ {
		id, err := r.newMediaID()
		if err != nil {
			return "", time.Time{}, err
		}
		taken := false
		err = r.db.Update(ctx, func(tx persist.Tx) error {
			live, err := r.countPending(tx, userID)
			if err != nil {
				return err
			}
			if live >= r.cfg.MaxPending {
				return fmt.Errorf("%w: %d media IDs await content", ErrTooManyPending, live)
			}
			_, exists, err := getRecord(tx, metaKey(r.cfg.ServerName, id))
			if err != nil {
				return err
			}
			_, reserved, err := getPending(tx, id)
			if err != nil {
				return err
			}
			if exists || reserved {
				taken = true
				return nil
			}
			v, err := json.Marshal(pending{User: userID, ExpiresMS: expires.UnixMilli()})
			if err != nil {
				return err
			}
			if err := tx.Set(pendingKey(id), v); err != nil {
				return err
			}
			return tx.Set(userPendingKey(userID, id), nil)
		})
		if err != nil {
			return "", time.Time{}, fmt.Errorf("media: reserving media ID: %w", err)
		}
		if !taken {
			return id, time.UnixMilli(expires.UnixMilli()).UTC(), nil
		}
		if attempt == 3 {
			return "", time.Time{}, errors.New("media: random source keeps repeating media IDs")
		}
	}
}

// countPending counts userID's live reservations and removes the expired
// ones it passes, so the index stays as small as the limit.
func (r *Repo) countPending(tx persist.Tx, userID string) (int, error) {
	it := tx.Iterate(persist.IterOptions{Prefix: userPrefix(userID), KeysOnly: true})
	defer it.Close()
	prefix := len(userPrefix(userID))
	live := 0
	for it.Next() {
		id := string(it.Key()[prefix:])
		p, ok, err := getPending(tx, id)
		if err != nil {
			return 0, err
		}
		if ok && !r.expired(p) {
			live++
			continue
		}
		if err := tx.Delete(it.Key()); err != nil {
			return 0, err
		}
		if ok {
			if err := tx.Delete(pendingKey(id)); err != nil {
				return 0, err
			}
		}
	}
	return live, it.Err()
}

// UploadTo stores the content of a media ID that u.Uploader reserved with
// Create. Errors wrap ErrInvalidID, ErrNotFound (never reserved, or
// expired), ErrForbidden (reserved by another user), ErrCannotOverwrite
// (content already uploaded) or ErrTooLarge.
func (r *Repo) UploadTo(ctx context.Context, mediaID string, u Upload) error {
	if !ValidMediaID(mediaID) {
		return fmt.Errorf("%w: %q", ErrInvalidID, mediaID)
	}
	check := func(tx persist.Tx) error {
		if _, exists, err := getRecord(tx, metaKey(r.cfg.ServerName, mediaID)); err != nil || exists {
			if exists {
				return fmt.Errorf("%w: %s", ErrCannotOverwrite, mediaID)
			}
			return err
		}
		p, ok, err := getPending(tx, mediaID)
		switch {
		case err != nil:
			return err
		case !ok || r.expired(p):
			return fmt.Errorf("%w: media ID %s was not created or has expired", ErrNotFound, mediaID)
		case p.User != u.Uploader:
			return fmt.Errorf("%w: %s", ErrForbidden, mediaID)
		}
		return nil
	}
	// Check before reading the body, so a doomed upload is refused at
	// once, and again when naming the blob, for concurrent uploads.
	if err := r.db.View(ctx, check); err != nil {
		return err
	}
	b, err := r.writeBlob(ctx, u.Body, r.cfg.MaxUploadSize)
	if err != nil {
		return err
	}
	err = r.db.Update(ctx, func(tx persist.Tx) error {
		if err := check(tx); err != nil {
			return err
		}
		if err := tx.Delete(pendingKey(mediaID)); err != nil {
			return err
		}
		if err := tx.Delete(userPendingKey(u.Uploader, mediaID)); err != nil {
			return err
		}
		if err := adopt(tx, b.id); err != nil {
			return err
		}
		return putRecord(tx, metaKey(r.cfg.ServerName, mediaID), r.newRecord(u, b))
	})
	if err != nil {
		r.deleteBlob(ctx, b.id)
		return fmt.Errorf("media: storing upload of %s: %w", mediaID, err)
	}
	return nil
}
