package notifications

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"hearth/core/matrixerr"
	"hearth/persist"
)

// Limits the spec sets on pusher identifiers.
const (
	MaxPushkeyBytes = 512
	MaxAppIDChars   = 64
)

// PushGatewayPath is the path the spec requires of an http pusher's URL.
const PushGatewayPath = "/_matrix/push/v1/notify"

// Pusher is one pusher as GET /pushers shows it.
type Pusher struct {
	PushKey           string          `json:"pushkey"`
	Kind              string          `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag,omitempty"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
}

// storedPusher is a Pusher with the device that set it, so that logging
// the device out can remove it.
type storedPusher struct {
	Pusher
	DeviceID string `json:"device_id,omitempty"`
}

// PusherRequest is the body of POST /pushers/set. Pointers and raw fields
// tell absent members from empty ones.
type PusherRequest struct {
	PushKey           *string         `json:"pushkey"`
	Kind              json.RawMessage `json:"kind"`
	AppID             *string         `json:"app_id"`
	AppDisplayName    *string         `json:"app_display_name"`
	DeviceDisplayName *string         `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag"`
	Lang              *string         `json:"lang"`
	Data              json.RawMessage `json:"data"`
	Append            bool            `json:"append"`
}

func missing(names ...string) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "missing parameters: %s", strings.Join(names, ", "))
}

func invalid(format string, args ...any) error {
	return matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, format, args...)
}

// validID checks a pushkey or app ID.
func validID(name, v string, ok bool) error {
	if !ok || v == "" || strings.ContainsRune(v, 0) {
		return invalid("%s must be a non-empty string without NUL", name)
	}
	return nil
}

// SetPusher creates, replaces or (kind null) deletes the user's pusher
// with the request's app ID and pushkey, for POST /pushers/set. Unless
// append is set, pushers of other users with the same app ID and pushkey
// are removed, as the spec says. Invalid requests fail with a
// matrixerr.Error: 400 M_MISSING_PARAM for absent fields (including an
// http pusher's data.url), 400 M_INVALID_PARAM for bad values.
func (s *Service) SetPusher(ctx context.Context, userID, deviceID string, req PusherRequest) error {
	var absent []string
	if req.PushKey == nil {
		absent = append(absent, "pushkey")
	}
	if req.AppID == nil {
		absent = append(absent, "app_id")
	}
	if req.Kind == nil {
		absent = append(absent, "kind")
	}
	if absent != nil {
		return missing(absent...)
	}
	if err := validID("pushkey", *req.PushKey, len(*req.PushKey) <= MaxPushkeyBytes); err != nil {
		return err
	}
	if err := validID("app_id", *req.AppID, utf8.RuneCountInString(*req.AppID) <= MaxAppIDChars); err != nil {
		return err
	}
	if string(req.Kind) == "null" {
		return s.deletePusher(ctx, userID, *req.AppID, *req.PushKey)
	}
	var kind string
	if err := json.Unmarshal(req.Kind, &kind); err != nil {
		return invalid("kind must be a string or null")
	}
	if kind != "http" {
		return invalid("unsupported pusher kind %q: only http pushers are available", kind)
	}
	if req.AppDisplayName == nil {
		absent = append(absent, "app_display_name")
	}
	if req.DeviceDisplayName == nil {
		absent = append(absent, "device_display_name")
	}
	if req.Lang == nil {
		absent = append(absent, "lang")
	}
	if req.Data == nil || string(req.Data) == "null" {
		absent = append(absent, "data")
	}
	if absent != nil {
		return missing(absent...)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(req.Data, &data); err != nil {
		return invalid("data must be an object")
	}
	rawURL, ok := data["url"]
	if !ok || string(rawURL) == "null" {
		return missing("data.url")
	}
	var gateway string
	if err := json.Unmarshal(rawURL, &gateway); err != nil {
		return invalid("data.url must be a string")
	}
	u, err := url.Parse(gateway)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != PushGatewayPath {
		return invalid("data.url must be an http(s) URL with the path %s", PushGatewayPath)
	}
	p := storedPusher{
		Pusher: Pusher{
			PushKey: *req.PushKey, Kind: kind, AppID: *req.AppID,
			AppDisplayName: *req.AppDisplayName, DeviceDisplayName: *req.DeviceDisplayName,
			ProfileTag: req.ProfileTag, Lang: *req.Lang, Data: req.Data,
		},
		DeviceID: deviceID,
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	err = s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		if !req.Append {
			if err := deleteOthers(tx, userID, p.AppID, p.PushKey); err != nil {
				return err
			}
		}
		if err := tx.Set(pusherKey(userID, p.AppID, p.PushKey), raw); err != nil {
			return err
		}
		return tx.Set(pushkeyKey(p.AppID, p.PushKey, userID), nil)
	})
	if err != nil {
		return fmt.Errorf("notifications: set pusher: %w", err)
	}
	return nil
}

// deleteOthers removes the pushers of users other than userID for a
// pushkey.
func deleteOthers(tx persist.Tx, userID, appID, pushkey string) error {
	prefix := pushkeyPrefix(appID, pushkey)
	it := tx.Iterate(persist.IterOptions{Prefix: prefix, KeysOnly: true})
	defer it.Close()
	for it.Next() {
		other := string(it.Key()[len(prefix):])
		if other == userID {
			continue
		}
		if err := tx.Delete(pusherKey(other, appID, pushkey)); err != nil {
			return err
		}
		if err := tx.Delete(it.Key()); err != nil {
			return err
		}
	}
	return it.Err()
}

func (s *Service) deletePusher(ctx context.Context, userID, appID, pushkey string) error {
	err := s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		if err := tx.Delete(pusherKey(userID, appID, pushkey)); err != nil {
			return err
		}
		return tx.Delete(pushkeyKey(appID, pushkey, userID))
	})
	if err != nil {
		return fmt.Errorf("notifications: delete pusher: %w", err)
	}
	return nil
}

// Pushers returns the user's pushers, for GET /pushers.
func (s *Service) Pushers(ctx context.Context, userID string) ([]Pusher, error) {
	out := []Pusher{}
	err := s.cfg.Store.View(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: pusherPrefix(userID)})
		defer it.Close()
		for it.Next() {
			var p storedPusher
			if err := json.Unmarshal(it.Value(), &p); err != nil {
				return fmt.Errorf("%w: pusher: %v", errCorrupt, err)
			}
			out = append(out, p.Pusher)
		}
		return it.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("notifications: pushers: %w", err)
	}
	return out, nil
}

// DeleteDevicePushers removes the pushers a device set, for when the device
// logs out or is deleted: a pusher must not outlive its access token.
func (s *Service) DeleteDevicePushers(ctx context.Context, userID, deviceID string) error {
	err := s.cfg.Store.Update(ctx, func(tx persist.Tx) error {
		it := tx.Iterate(persist.IterOptions{Prefix: pusherPrefix(userID)})
		defer it.Close()
		for it.Next() {
			var p storedPusher
			if err := json.Unmarshal(it.Value(), &p); err != nil {
				return fmt.Errorf("%w: pusher: %v", errCorrupt, err)
			}
			if p.DeviceID != deviceID {
				continue
			}
			if err := tx.Delete(it.Key()); err != nil {
				return err
			}
			if err := tx.Delete(pushkeyKey(p.AppID, p.PushKey, userID)); err != nil {
				return err
			}
		}
		return it.Err()
	})
	if err != nil {
		return fmt.Errorf("notifications: delete device pushers: %w", err)
	}
	return nil
}
