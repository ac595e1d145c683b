package media

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"hearth/persist"
)

// blob is content written in chunks, not yet or already named by metadata.
type blob struct {
	id     string
	size   int64
	sha256 string // hex
}

// writeBlob stores body, at most limit bytes, as a new blob and returns it.
// Bytes beyond limit fail with ErrTooLarge. The chunks go through a Batch,
// which applies them in as few transactions as the backend allows; they
// are durable when writeBlob returns. A write marker (media/w/) is stored
// with the first chunk and removed by the transaction that names the blob
// (see adopt), so that Sweep can find blobs whose upload never finished.
// On failure the chunks already applied are removed.
func (r *Repo) writeBlob(ctx context.Context, body io.Reader, limit int64) (blob, error) {
	id, err := r.newBlobID()
	if err != nil {
		return blob{}, err
	}
	b := blob{id: id}
	batch := r.db.NewBatch(ctx)
	if err := r.fillBatch(batch, &b, body, limit); err != nil {
		batch.Discard()
		r.deleteBlob(ctx, id)
		return blob{}, err
	}
	if err := batch.Commit(); err != nil {
		r.deleteBlob(ctx, id)
		return blob{}, fmt.Errorf("media: storing blob: %w", err)
	}
	return b, nil
}

func (r *Repo) fillBatch(batch persist.Batch, b *blob, body io.Reader, limit int64) error {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(r.cfg.Now().UnixMilli()))
	if err := batch.Set(writeMarkerKey(b.id), ts[:]); err != nil {
		return fmt.Errorf("media: storing blob: %w", err)
	}
	h := sha256.New()
	// One byte more than the limit tells a file of exactly limit bytes
	// from a larger one.
	lr := io.LimitReader(body, limit+1)
	buf := make([]byte, ChunkSize)
	for index := uint32(0); ; index++ {
		n, err := io.ReadFull(lr, buf)
		if n > 0 {
			b.size += int64(n)
			if b.size > limit {
				return fmt.Errorf("%w: larger than %d bytes", ErrTooLarge, limit)
			}
			h.Write(buf[:n])
			if err := batch.Set(chunkKey(b.id, index), buf[:n]); err != nil {
				return fmt.Errorf("media: storing blob: %w", err)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("media: reading content: %w", err)
		}
	}
	b.sha256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// adopt marks blob id as named by metadata written in the same
// transaction, so Sweep leaves it alone.
func adopt(tx persist.Tx, id string) error {
	return tx.Delete(writeMarkerKey(id))
}

// deleteBlob removes a blob's chunks and marker. It is best effort and
// outlives ctx's cancellation: a client that hung up mid-upload still gets
// its partial blob removed. What it cannot remove, Sweep will.
func (r *Repo) deleteBlob(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	prefix := chunkPrefix(id)
	for {
		// Delete in bounded transactions: a blob may have many chunks.
		more := false
		err := r.db.Update(ctx, func(tx persist.Tx) error {
			it := tx.Iterate(persist.IterOptions{Prefix: prefix, KeysOnly: true})
			defer it.Close()
			n := 0
			for it.Next() {
				if n == 256 {
					more = true
					break
				}
				if err := tx.Delete(it.Key()); err != nil {
					return err
				}
				n++
			}
			if err := it.Err(); err != nil {
				return err
			}
			if !more {
				return tx.Delete(writeMarkerKey(id))
			}
			return nil
		})
		if err != nil || !more {
			return
		}
	}
}

// Sweep removes blobs whose writing started more than olderThan ago and
// never became part of a file: uploads interrupted by a crash. An upload
// still running when Sweep runs is safe as long as olderThan exceeds the
// longest upload. Call it now and then, for instance at startup with an
// hour. It returns how many blobs it removed.
func (r *Repo) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := r.cfg.Now().Add(-olderThan).UnixMilli()
	var stale []string
	err := r.db.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: []byte(prefixWrite)})
		defer it.Close()
		for it.Next() {
			v := it.Value()
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) >= cutoff {
				continue
			}
			stale = append(stale, string(it.Key()[len(prefixWrite):]))
		}
		return it.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("media: sweeping blobs: %w", err)
	}
	for _, id := range stale {
		r.deleteBlob(ctx, id)
	}
	return len(stale), nil
}

// blobReader reads a blob chunk by chunk, each chunk in its own short
// read transaction, so a slow client never holds a transaction open. Blobs
// named by metadata never change, so the chunks are consistent.
type blobReader struct {
	ctx   context.Context
	db    persist.Store
	id    string
	size  int64
	off   int64
	chunk []byte
	index int64 // of chunk; -1 when none is loaded
}

func newBlobReader(ctx context.Context, db persist.Store, id string, size int64) *blobReader {
	return &blobReader{ctx: ctx, db: db, id: id, size: size, index: -1}
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	index := b.off / ChunkSize
	if index != b.index {
		var chunk []byte
		err := b.db.View(b.ctx, func(tx persist.Tx) error {
			var err error
			chunk, err = tx.Get(chunkKey(b.id, uint32(index)))
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("media: reading chunk %d of blob %s: %w", index, b.id, err)
		}
		b.chunk, b.index = chunk, index
	}
	start := b.off - index*ChunkSize
	if start >= int64(len(b.chunk)) {
		return 0, fmt.Errorf("media: blob %s is shorter than its metadata says", b.id)
	}
	n := copy(p, b.chunk[start:])
	b.off += int64(n)
	return n, nil
}

func (b *blobReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.size
	default:
		return 0, errors.New("media: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("media: negative position")
	}
	b.off = offset
	return offset, nil
}
