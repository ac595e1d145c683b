package keyring

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"hearth/core/b64"
	"hearth/persist"
)

// Key prefixes of the ring's part of the store.
const (
	prefixKey  = "keyring/key/"
	prefixResp = "keyring/resp/"
)

// storedKey is the value of a keyring/key/ entry.
type storedKey struct {
	Key          string `json:"key"`
	ValidUntilTS int64  `json:"valid_until_ts"`
	Old          bool   `json:"old,omitempty"`
}

func keyPrefix(serverName string) []byte {
	return []byte(prefixKey + serverName + "\x00")
}

// load reads a server's keys and last response from the store.
func (r *Ring) load(ctx context.Context, serverName string) (map[string]keyInfo, []byte, error) {
	keys := make(map[string]keyInfo)
	var raw []byte
	prefix := keyPrefix(serverName)
	err := r.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: prefix})
		defer it.Close()
		for it.Next() {
			id := string(bytes.TrimPrefix(it.Key(), prefix))
			var sk storedKey
			if err := json.Unmarshal(it.Value(), &sk); err != nil {
				return fmt.Errorf("key %s: %w", id, err)
			}
			pub, err := b64.Decode(sk.Key)
			if err != nil || len(pub) != ed25519.PublicKeySize {
				return fmt.Errorf("key %s: bad public key", id)
			}
			keys[id] = keyInfo{pub: pub, validUntil: sk.ValidUntilTS, old: sk.Old}
		}
		if err := it.Err(); err != nil {
			return err
		}
		v, err := tx.Get([]byte(prefixResp + serverName))
		if err != nil && !errors.Is(err, persist.ErrNotFound) {
			return err
		}
		raw = v
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: load keys of %s: %w", serverName, err)
	}
	return keys, raw, nil
}

// save persists freshly fetched keys (merged with what the store holds)
// and the last response.
func (r *Ring) save(ctx context.Context, serverName string, keys map[string]keyInfo, resps []response) error {
	if len(keys) == 0 && len(resps) == 0 {
		return nil
	}
	prefix := keyPrefix(serverName)
	err := r.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		for id, k := range keys {
			key := append(append([]byte(nil), prefix...), id...)
			if old, err := tx.Get(key); err == nil {
				var sk storedKey
				if json.Unmarshal(old, &sk) == nil && sk.Key == b64.Encode(k.pub) && sk.ValidUntilTS > k.validUntil {
					k.validUntil = sk.ValidUntilTS
				}
			} else if !errors.Is(err, persist.ErrNotFound) {
				return err
			}
			v, err := json.Marshal(storedKey{Key: b64.Encode(k.pub), ValidUntilTS: k.validUntil, Old: k.old})
			if err != nil {
				return err
			}
			if err := tx.Set(key, v); err != nil {
				return err
			}
		}
		if n := len(resps); n > 0 {
			return tx.Set([]byte(prefixResp+serverName), resps[n-1].raw)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keyring: save keys of %s: %w", serverName, err)
	}
	return nil
}
