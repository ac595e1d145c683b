package syncer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"hearth/persist"
)

// ErrUnknownFilter means the user has no filter with the ID asked for.
var ErrUnknownFilter = errors.New("syncer: unknown filter")

// Filters are stored per user, under the package's key prefix:
//
//	sync/filter/<user ID> 0x00 <filter ID> -> the filter's JSON, as uploaded
//
// A filter's ID is derived from its JSON, so uploading the same filter again
// (as clients do at every start) returns the same ID and stores nothing new.
const prefixFilter = "sync/filter/"

// filterIDBytes is how many bytes of the SHA-256 of a filter make its ID:
// 96 bits, 16 characters of unpadded URL-safe base64, which never start
// with "{" and so never look like inline JSON to /sync.
const filterIDBytes = 12

// maxFilterIDLen bounds the filter IDs looked up, far above the IDs handed
// out, so that no request builds an oversized key.
const maxFilterIDLen = 255

func filterKey(userID, filterID string) []byte {
	return []byte(prefixFilter + userID + "\x00" + filterID)
}

// PutFilter stores a filter that the caller has validated (with
// filter.Parse) for userID and returns its ID. raw is stored compacted.
func (s *Syncer) PutFilter(ctx context.Context, userID string, raw []byte) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", fmt.Errorf("syncer: compact filter: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	id := base64.RawURLEncoding.EncodeToString(sum[:filterIDBytes])
	err := s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		return tx.Set(filterKey(userID, id), buf.Bytes())
	})
	if err != nil {
		return "", fmt.Errorf("syncer: store filter of %s: %w", userID, err)
	}
	return id, nil
}

// GetFilter returns the JSON of a stored filter of userID; the error wraps
// ErrUnknownFilter when there is none.
func (s *Syncer) GetFilter(ctx context.Context, userID, filterID string) (json.RawMessage, error) {
	if filterID == "" || len(filterID) > maxFilterIDLen {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFilter, filterID)
	}
	var raw []byte
	err := s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		var err error
		raw, err = tx.Get(filterKey(userID, filterID))
		return err
	})
	if errors.Is(err, persist.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFilter, filterID)
	}
	if err != nil {
		return nil, fmt.Errorf("syncer: read filter of %s: %w", userID, err)
	}
	return raw, nil
}
