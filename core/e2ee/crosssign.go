package e2ee

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"hearth/core/b64"
	"hearth/core/matrixerr"
	"hearth/core/signing"
	"hearth/persist"
)

// The usages of the three cross-signing keys.
const (
	UsageMaster      = "master"
	UsageSelfSigning = "self_signing"
	UsageUserSigning = "user_signing"
)

// CodeInvalidSignature is the errcode for a signature that does not
// verify.
const CodeInvalidSignature = "M_INVALID_SIGNATURE"

// ErrAuthRequired is returned by UploadCrossSigningKeys when the upload
// would replace existing keys and the caller has not passed
// user-interactive authentication.
var ErrAuthRequired = errors.New("e2ee: replacing cross-signing keys needs user-interactive authentication")

// CrossSigningUpload is the body of /keys/device_signing/upload, less its
// auth. Every key is optional.
type CrossSigningUpload struct {
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
	UserSigningKey json.RawMessage `json:"user_signing_key,omitempty"`
}

// crossKeyShape is what a cross-signing key must hold.
type crossKeyShape struct {
	UserID     string            `json:"user_id"`
	Usage      []string          `json:"usage"`
	Keys       map[string]string `json:"keys"`
	Signatures Signatures        `json:"signatures"`
}

// crossKey is a parsed cross-signing key.
type crossKey struct {
	raw   []byte            // canonical JSON as uploaded
	id    string            // the key ID less "ed25519:", its public key in base64
	pub   ed25519.PublicKey // decoded
	sigs  Signatures
	usage string
}

// keyID is how signatures name the key.
func (k *crossKey) keyID() string { return "ed25519:" + k.id }

// parseCrossKey checks a cross-signing key of userID for usage.
func parseCrossKey(raw json.RawMessage, userID, usage string) (*crossKey, error) {
	var shape crossKeyShape
	if err := json.Unmarshal(raw, &shape); err != nil {
		return nil, badJSON("the %s key is not a cross-signing key object", usage)
	}
	if shape.UserID != userID {
		return nil, invalidParam("the %s key's user_id %q is not the user that is logged in", usage, shape.UserID)
	}
	if !slices.Contains(shape.Usage, usage) {
		return nil, invalidParam("the %s key's usage does not include %q", usage, usage)
	}
	if len(shape.Keys) != 1 {
		return nil, invalidParam("the %s key must hold exactly one public key", usage)
	}
	k := &crossKey{sigs: shape.Signatures, usage: usage}
	for name, value := range shape.Keys {
		id, ok := strings.CutPrefix(name, "ed25519:")
		pub, err := b64.Decode(value)
		if !ok || !validName(id) || err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, invalidParam("the %s key is not an ed25519 public key", usage)
		}
		k.id, k.pub = id, pub
	}
	var err error
	if k.raw, err = canonicalObject(raw, "unsigned"); err != nil {
		return nil, badJSON("the %s key is not a JSON object", usage)
	}
	return k, nil
}

// readCrossKey returns the stored key of user for usage.
func readCrossKey(tx persist.Tx, user, usage string) (*crossKey, bool, error) {
	b, ok, err := get(tx, crossSigningKey(user, usage))
	if err != nil || !ok {
		return nil, false, err
	}
	k, err := parseCrossKey(b, user, usage)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s key of %s: %v", errCorrupt, usage, user, err)
	}
	return k, true, nil
}

// signedBy checks that obj carries a valid signature by signer's key k.
func signedBy(obj []byte, signer string, k *crossKey) error {
	if err := signing.VerifyJSON(obj, signer, k.keyID(), k.pub); err != nil {
		return matrixerr.New(http.StatusBadRequest, CodeInvalidSignature, "missing or invalid signature by %s", k.keyID())
	}
	return nil
}

// UploadCrossSigningKeys stores a user's cross-signing keys. The
// self-signing and user-signing keys must be signed by the master key, the
// one uploaded with them or else the stored one. While the user has no
// master key, or when the upload holds only the keys already stored,
// authenticated may be false; replacing keys needs it true, or the error
// is ErrAuthRequired and nothing changes. Any change is a device list
// change of the user.
func (s *Service) UploadCrossSigningKeys(ctx context.Context, userID string, up CrossSigningUpload, authenticated bool) error {
	if !validUserID(userID) {
		return invalidParam("invalid user ID")
	}
	var uploaded []*crossKey
	for _, x := range []struct {
		raw   json.RawMessage
		usage string
	}{
		{up.MasterKey, UsageMaster}, {up.SelfSigningKey, UsageSelfSigning}, {up.UserSigningKey, UsageUserSigning},
	} {
		if len(x.raw) == 0 || bytes.Equal(x.raw, []byte("null")) {
			continue
		}
		k, err := parseCrossKey(x.raw, userID, x.usage)
		if err != nil {
			return err
		}
		uploaded = append(uploaded, k)
	}
	if len(uploaded) == 0 {
		return nil
	}
	devices, err := s.devices.Devices(ctx, userID)
	if err != nil {
		return fmt.Errorf("e2ee: listing devices of %s: %w", userID, err)
	}
	for _, k := range uploaded {
		for _, d := range devices {
			if d.ID == k.id {
				return forbidden("the %s key's public key is the ID of a device", k.usage)
			}
		}
	}
	// The user-signing key is private to its owner: other servers hear
	// only of the master and self-signing keys.
	var published []*crossKey
	err = s.updateLists(ctx, func(tx persist.Tx, c *changeSet) error {
		master, hasMaster, err := readCrossKey(tx, userID, UsageMaster)
		if err != nil {
			return err
		}
		var changed []*crossKey
		for _, k := range uploaded {
			old, ok, err := readCrossKey(tx, userID, k.usage)
			if err != nil {
				return err
			}
			if !ok || !bytes.Equal(old.raw, k.raw) {
				changed = append(changed, k)
			}
		}
		if len(changed) == 0 {
			return nil // a retry of an upload that succeeded
		}
		if hasMaster && !authenticated {
			return ErrAuthRequired
		}
		for _, k := range uploaded {
			if k.usage == UsageMaster {
				master, hasMaster = k, true
			}
		}
		for _, k := range uploaded {
			if k.usage == UsageMaster {
				continue
			}
			if !hasMaster {
				return matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "no master key to sign the %s key", k.usage)
			}
			if err := signedBy(k.raw, userID, master); err != nil {
				return err
			}
		}
		for _, k := range changed {
			old, ok, err := readCrossKey(tx, userID, k.usage)
			if err != nil {
				return err
			}
			if ok && old.id != k.id {
				if err := deletePrefix(tx, sigPrefix(userID, old.id)); err != nil {
					return err
				}
			}
			if err := tx.Set(crossSigningKey(userID, k.usage), k.raw); err != nil {
				return err
			}
		}
		c.mark(userID)
		published = nil
		for _, k := range changed {
			if k.usage != UsageUserSigning {
				published = append(published, k)
			}
		}
		return nil
	})
	if err != nil || len(published) == 0 || s.hooks.OnSigningKeyChange == nil {
		return err
	}
	var master, selfSigning json.RawMessage
	for _, k := range published {
		if k.usage == UsageMaster {
			master = k.raw
		} else {
			selfSigning = k.raw
		}
	}
	s.hooks.OnSigningKeyChange(userID, master, selfSigning)
	return nil
}

// Failures maps user ID to key ID to why a signature was not stored.
type Failures map[string]map[string]matrixerr.Error

func (f Failures) add(user, keyID string, err error) {
	if f[user] == nil {
		f[user] = make(map[string]matrixerr.Error)
	}
	f[user][keyID] = matrixerr.As(err)
}

// UploadSignatures stores the signatures that signer made of keys (user ID
// to key ID to the signed key): of its own devices with its self-signing
// key, of its own master key with its devices, and of other users' master
// keys with its user-signing key. Each signed object must be the stored key
// apart from its signatures. Signatures that fail are reported per key and
// the others are still stored; what was stored is a device list change of
// signer (the only user besides the key's owner who may see it).
func (s *Service) UploadSignatures(ctx context.Context, signer string, keys map[string]map[string]json.RawMessage) (Failures, error) {
	var failures Failures
	err := s.updateLists(ctx, func(tx persist.Tx, c *changeSet) error {
		failures = Failures{}
		for user, objs := range keys {
			for keyID, obj := range objs {
				stored, err := s.signOne(tx, signer, user, keyID, obj)
				if err != nil {
					var me matrixerr.Error
					if !errors.As(err, &me) {
						return err
					}
					failures.add(user, keyID, me)
					continue
				}
				if stored {
					c.mark(signer)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("e2ee: uploading signatures of %s: %w", signer, err)
	}
	return failures, nil
}

// signOne checks and stores the signatures in obj of user's key keyID.
// Client mistakes are matrixerr.Errors.
func (s *Service) signOne(tx persist.Tx, signer, user, keyID string, obj json.RawMessage) (bool, error) {
	if !validUserID(user) || !validName(keyID) {
		return false, invalidParam("invalid user or key ID")
	}
	if _, err := objectOf(obj); err != nil {
		return false, badJSON("the signed key is not a JSON object")
	}
	if user == signer {
		dk, ok, err := get(tx, deviceKeysKey(user, keyID))
		if err != nil {
			return false, err
		}
		if ok {
			return signOwnDevice(tx, signer, keyID, dk, obj)
		}
	}
	master, ok, err := readCrossKey(tx, user, UsageMaster)
	if err != nil {
		return false, err
	}
	if !ok || master.id != keyID {
		return false, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "unknown key %s of %s", keyID, user)
	}
	if err := mustMatch(master.raw, obj); err != nil {
		return false, err
	}
	if user == signer {
		return signOwnMaster(tx, signer, master, obj)
	}
	usk, ok, err := readCrossKey(tx, signer, UsageUserSigning)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "no user-signing key to sign with")
	}
	return storeSignature(tx, user, master.id, signer, usk, obj)
}

// mustMatch checks that a signed object is the stored key.
func mustMatch(stored, obj []byte) error {
	same, err := sameUnsigned(stored, obj)
	if err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if !same {
		return invalidParam("the signed object is not the stored key")
	}
	return nil
}

// signOwnDevice stores the self-signing key's signature of a device.
func signOwnDevice(tx persist.Tx, user, device string, dk, obj []byte) (bool, error) {
	if err := mustMatch(dk, obj); err != nil {
		return false, err
	}
	ssk, ok, err := readCrossKey(tx, user, UsageSelfSigning)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, matrixerr.New(http.StatusBadRequest, matrixerr.CodeMissingParam, "no self-signing key to sign with")
	}
	return storeSignature(tx, user, device, user, ssk, obj)
}

// storeSignature verifies signer's signature with k in obj and stores it
// for user's key target.
func storeSignature(tx persist.Tx, user, target, signer string, k *crossKey, obj []byte) (bool, error) {
	if err := signedBy(obj, signer, k); err != nil {
		return false, err
	}
	var shape struct{ Signatures Signatures }
	if err := json.Unmarshal(obj, &shape); err != nil {
		return false, badJSON("malformed signatures")
	}
	sig := shape.Signatures[signer][k.keyID()]
	return true, tx.Set(sigKey(user, target, signer, k.keyID()), []byte(sig))
}

// signOwnMaster stores the signatures of user's own devices in obj of its
// master key; at least one must verify.
func signOwnMaster(tx persist.Tx, user string, master *crossKey, obj []byte) (bool, error) {
	var shape struct{ Signatures Signatures }
	if err := json.Unmarshal(obj, &shape); err != nil {
		return false, badJSON("malformed signatures")
	}
	stored := false
	for keyID, sig := range shape.Signatures[user] {
		device, ok := strings.CutPrefix(keyID, "ed25519:")
		if !ok || !validName(device) || device == master.id {
			continue
		}
		dk, ok, err := get(tx, deviceKeysKey(user, device))
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		var d deviceKeysShape
		if err := json.Unmarshal(dk, &d); err != nil {
			return false, fmt.Errorf("%w: device keys: %v", errCorrupt, err)
		}
		pub, err := b64.Decode(d.Keys[keyID])
		if err != nil || len(pub) != ed25519.PublicKeySize {
			continue
		}
		if signing.VerifyJSON(obj, user, keyID, pub) != nil {
			continue
		}
		if err := tx.Set(sigKey(user, master.id, user, keyID), []byte(sig)); err != nil {
			return false, err
		}
		stored = true
	}
	if !stored {
		return false, matrixerr.New(http.StatusBadRequest, CodeInvalidSignature, "no valid signature of the master key by a device")
	}
	return true, nil
}
