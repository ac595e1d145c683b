package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"hearth/core/canonicaljson"
	"hearth/core/matrixerr"
	"hearth/persist"
)

// CodeWrongRoomKeysVersion is the errcode for a key backup write to a
// version that is not the current one.
const CodeWrongRoomKeysVersion = "M_WRONG_ROOM_KEYS_VERSION"

// WrongVersionError is returned by writes to a backup version that is not
// the user's current one (403 M_WRONG_ROOM_KEYS_VERSION); the response
// names the current version.
type WrongVersionError struct{ Current string }

// Error implements error.
func (e *WrongVersionError) Error() string {
	return fmt.Sprintf("e2ee: wrong backup version, the current one is %s", e.Current)
}

// Body is the JSON error body, with current_version.
func (e *WrongVersionError) Body() map[string]string {
	return map[string]string{
		"errcode":         CodeWrongRoomKeysVersion,
		"error":           "Wrong backup version.",
		"current_version": e.Current,
	}
}

// BackupInfo describes a backup version, as GET /room_keys/version shows
// it.
type BackupInfo struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int             `json:"count"`
	ETag      string          `json:"etag"`
	Version   string          `json:"version"`
}

// backupRecord is a stored backup version.
type backupRecord struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int             `json:"count"`
	// ETag counts the changes to the backup's keys.
	ETag uint64 `json:"etag"`
}

func (r *backupRecord) info(version uint64) *BackupInfo {
	return &BackupInfo{
		Algorithm: r.Algorithm,
		AuthData:  r.AuthData,
		Count:     r.Count,
		ETag:      strconv.FormatUint(r.ETag, 10),
		Version:   strconv.FormatUint(version, 10),
	}
}

// KeyBackupData is one backed-up room key: its metadata in clear, the key
// itself encrypted in SessionData.
type KeyBackupData struct {
	FirstMessageIndex *int64          `json:"first_message_index"`
	ForwardedCount    *int64          `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

// RoomKeyBackup is the keys of one room: session ID to key data.
type RoomKeyBackup struct {
	Sessions map[string]KeyBackupData `json:"sessions"`
}

// check reports a key missing required fields.
func (d *KeyBackupData) check() error {
	if d.FirstMessageIndex == nil || d.ForwardedCount == nil || d.IsVerified == nil {
		return matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "key data needs first_message_index, forwarded_count, is_verified and session_data")
	}
	if _, err := objectOf(d.SessionData); err != nil {
		return badJSON("session_data must be an object")
	}
	return nil
}

// better reports whether d should replace old, by the spec's order: a
// verified key, then a lower first message index, then fewer forwards.
func (d *KeyBackupData) better(old *KeyBackupData) bool {
	if *d.IsVerified != *old.IsVerified {
		return *d.IsVerified
	}
	if *d.FirstMessageIndex != *old.FirstMessageIndex {
		return *d.FirstMessageIndex < *old.FirstMessageIndex
	}
	return *d.ForwardedCount < *old.ForwardedCount
}

// parseVersion reads a version string; ok is false for one the service
// never hands out.
func parseVersion(v string) (uint64, bool) {
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatUint(n, 10) == v
}

// currentBackup returns the user's newest backup version, 0 when none.
func currentBackup(tx persist.Tx, user string) (uint64, *backupRecord, error) {
	prefix := under(prefixBackup, user)
	it := tx.Iterate(persist.IterOptions{Prefix: prefix, Reverse: true})
	defer it.Close()
	if !it.Next() {
		return 0, nil, it.Err()
	}
	v, err := decodeUint(it.Key()[len(prefix):])
	if err != nil {
		return 0, nil, err
	}
	var r backupRecord
	if err := json.Unmarshal(it.Value(), &r); err != nil {
		return 0, nil, fmt.Errorf("%w: backup version: %v", errCorrupt, err)
	}
	return v, &r, nil
}

// readBackup returns a backup version, or 404 M_NOT_FOUND.
func readBackup(tx persist.Tx, user, version string) (uint64, *backupRecord, error) {
	v, ok := parseVersion(version)
	if !ok {
		return 0, nil, notFound("unknown backup version")
	}
	b, ok, err := get(tx, backupKey(user, v))
	if err != nil {
		return 0, nil, err
	}
	if !ok {
		return 0, nil, notFound("unknown backup version")
	}
	var r backupRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, nil, fmt.Errorf("%w: backup version: %v", errCorrupt, err)
	}
	return v, &r, nil
}

func writeBackup(tx persist.Tx, user string, v uint64, r *backupRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Set(backupKey(user, v), b)
}

// checkBackupParams checks a new backup's algorithm and auth_data.
func checkBackupParams(algorithm string, authData json.RawMessage) ([]byte, error) {
	if algorithm == "" {
		return nil, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing algorithm")
	}
	if len(authData) == 0 {
		return nil, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing auth_data")
	}
	auth, err := canonicaljson.Canonicalize(authData)
	if err != nil || auth[0] != '{' {
		return nil, badJSON("auth_data must be an object")
	}
	return auth, nil
}

// CreateBackup starts a new backup version, which becomes the user's
// current one, and returns its version.
func (s *Service) CreateBackup(ctx context.Context, user, algorithm string, authData json.RawMessage) (string, error) {
	auth, err := checkBackupParams(algorithm, authData)
	if err != nil {
		return "", err
	}
	if !validName(user) {
		return "", invalidParam("invalid user ID")
	}
	var v uint64
	err = s.db.Update(ctx, func(tx persist.Tx) error {
		next, err := persist.GetUint64(tx, backupNextKey(user))
		if err != nil {
			return err
		}
		v = max(next, 1)
		if err := tx.Set(backupNextKey(user), appendUint(nil, v+1)); err != nil {
			return err
		}
		return writeBackup(tx, user, v, &backupRecord{Algorithm: algorithm, AuthData: auth})
	})
	if err != nil {
		return "", fmt.Errorf("e2ee: creating a backup for %s: %w", user, err)
	}
	return strconv.FormatUint(v, 10), nil
}

// Backup describes one of the user's backup versions, the current one
// when version is "". A missing one is 404 M_NOT_FOUND.
func (s *Service) Backup(ctx context.Context, user, version string) (*BackupInfo, error) {
	var info *BackupInfo
	err := s.db.View(ctx, func(tx persist.Tx) error {
		if version == "" {
			v, r, err := currentBackup(tx, user)
			if err != nil {
				return err
			}
			if r == nil {
				return notFound("no current backup version")
			}
			info = r.info(v)
			return nil
		}
		v, r, err := readBackup(tx, user, version)
		if err != nil {
			return err
		}
		info = r.info(v)
		return nil
	})
	return info, err
}

// UpdateBackup replaces a backup version's auth_data. algorithm must be the
// version's own.
func (s *Service) UpdateBackup(ctx context.Context, user, version, algorithm string, authData json.RawMessage) error {
	auth, err := checkBackupParams(algorithm, authData)
	if err != nil {
		return err
	}
	return s.db.Update(ctx, func(tx persist.Tx) error {
		v, r, err := readBackup(tx, user, version)
		if err != nil {
			return err
		}
		if r.Algorithm != algorithm {
			return invalidParam("the algorithm does not match the backup's")
		}
		r.AuthData = auth
		return writeBackup(tx, user, v, r)
	})
}

// DeleteBackup deletes a backup version and its keys. Deleting a version
// that was deleted before succeeds; one that never existed is 404.
func (s *Service) DeleteBackup(ctx context.Context, user, version string) error {
	v, ok := parseVersion(version)
	if !ok {
		return notFound("unknown backup version")
	}
	err := s.db.Update(ctx, func(tx persist.Tx) error {
		next, err := persist.GetUint64(tx, backupNextKey(user))
		if err != nil {
			return err
		}
		if v >= next {
			return notFound("unknown backup version")
		}
		return tx.Delete(backupKey(user, v))
	})
	if err != nil {
		return err
	}
	// The version is gone and its number is never reused, so its keys
	// are unreachable already; remove them in bounded transactions.
	return s.deleteRange(ctx, backupKeysPrefix(user, v), nil)
}

// PutRoomKeys stores keys (room ID to session ID to key data) in the
// current backup version, which version must name, keeping the better of
// two keys for one session. It returns the backup's new count and etag.
func (s *Service) PutRoomKeys(ctx context.Context, user, version string, rooms map[string]map[string]KeyBackupData) (int, string, error) {
	for room, sessions := range rooms {
		for session, d := range sessions {
			if !validName(room) || !validName(session) {
				return 0, "", invalidParam("invalid room or session ID")
			}
			if err := d.check(); err != nil {
				return 0, "", err
			}
		}
	}
	var info *BackupInfo
	err := s.db.Update(ctx, func(tx persist.Tx) error {
		v, r, err := currentBackup(tx, user)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound("no current backup version")
		}
		if cur := strconv.FormatUint(v, 10); cur != version {
			return &WrongVersionError{Current: cur}
		}
		changed := false
		for room, sessions := range rooms {
			for session, d := range sessions {
				k := backupSessionKey(user, v, room, session)
				b, ok, err := get(tx, k)
				if err != nil {
					return err
				}
				if ok {
					var old KeyBackupData
					if err := json.Unmarshal(b, &old); err != nil || old.check() != nil {
						return fmt.Errorf("%w: backed-up key", errCorrupt)
					}
					if !d.better(&old) {
						continue
					}
				} else {
					r.Count++
				}
				nb, err := json.Marshal(d)
				if err != nil {
					return err
				}
				if err := tx.Set(k, nb); err != nil {
					return err
				}
				changed = true
			}
		}
		if !changed {
			info = r.info(v)
			return nil
		}
		r.ETag++
		info = r.info(v)
		return writeBackup(tx, user, v, r)
	})
	if err != nil {
		return 0, "", err
	}
	return info.Count, info.ETag, nil
}

// RoomKeys returns backed-up keys of a version: room ID to session ID to
// key data, restricted to room when it is not "" and to session within it
// when that is not "". A missing version is 404 M_NOT_FOUND.
func (s *Service) RoomKeys(ctx context.Context, user, version, room, session string) (map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]json.RawMessage{}
	err := s.db.View(ctx, func(tx persist.Tx) error {
		v, _, err := readBackup(tx, user, version)
		if err != nil {
			return err
		}
		if room != "" && !validName(room) || session != "" && !validName(session) {
			return nil
		}
		if session != "" {
			b, ok, err := get(tx, backupSessionKey(user, v, room, session))
			if err != nil || !ok {
				return err
			}
			out[room] = map[string]json.RawMessage{session: b}
			return nil
		}
		prefix := backupKeysPrefix(user, v)
		scan := prefix
		if room != "" {
			scan = backupRoomPrefix(user, v, room)
		}
		it := tx.Iterate(persist.IterOptions{Prefix: scan})
		defer it.Close()
		for it.Next() {
			r, sess, err := splitBackupKey(it.Key()[len(prefix):])
			if err != nil {
				return err
			}
			if out[r] == nil {
				out[r] = map[string]json.RawMessage{}
			}
			out[r][sess] = it.Value()
		}
		return it.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// splitBackupKey splits "<room> 0 <session>".
func splitBackupKey(rest []byte) (room, session string, err error) {
	for i, b := range rest {
		if b == 0 {
			return string(rest[:i]), string(rest[i+1:]), nil
		}
	}
	return "", "", fmt.Errorf("%w: backup key", errCorrupt)
}

// DeleteRoomKeys deletes backed-up keys of a version (all of them, a
// room's, or one session's, as for RoomKeys) and returns the backup's new
// count and etag. A missing version is 404 M_NOT_FOUND.
func (s *Service) DeleteRoomKeys(ctx context.Context, user, version, room, session string) (int, string, error) {
	var info *BackupInfo
	for {
		more := false
		err := s.db.Update(ctx, func(tx persist.Tx) error {
			v, r, err := readBackup(tx, user, version)
			if err != nil {
				return err
			}
			more = false
			if room != "" && !validName(room) || session != "" && !validName(session) {
				info = r.info(v)
				return nil
			}
			scan := backupKeysPrefix(user, v)
			if room != "" {
				scan = backupRoomPrefix(user, v, room)
			}
			var n int
			if session != "" {
				k := backupSessionKey(user, v, room, session)
				_, ok, err := get(tx, k)
				if err != nil {
					return err
				}
				if ok {
					n = 1
					if err := tx.Delete(k); err != nil {
						return err
					}
				}
			} else {
				it := tx.Iterate(persist.IterOptions{Prefix: scan, KeysOnly: true})
				defer it.Close()
				for it.Next() {
					if n == deleteChunk {
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
			}
			if n > 0 {
				r.Count = max(r.Count-n, 0)
				r.ETag++
				if err := writeBackup(tx, user, v, r); err != nil {
					return err
				}
			}
			info = r.info(v)
			return nil
		})
		if err != nil {
			return 0, "", err
		}
		if !more {
			return info.Count, info.ETag, nil
		}
	}
}
