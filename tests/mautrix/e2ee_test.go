//go:build goolm

package mautrix_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// olmClient is a mautrix client with an olm device: mautrix's OlmMachine
// over an in-memory crypto store, with pure-Go olm.
type olmClient struct {
	*mautrix.Client
	mach *crypto.OlmMachine
}

// withCrypto gives cli an in-memory state store and an OlmMachine, and returns
// the setup for startSync that uploads its device keys and wires the machine
// into the syncer: /sync's to-device events, device lists and one-time key
// counts go to the machine, and each m.room.encrypted event is decrypted and
// dispatched again as the event it holds (mautrix's cryptohelper does the
// same, but drags in cgo SQLite).
func withCrypto(t *testing.T, ctx context.Context, cli *mautrix.Client, oc *olmClient, decryptErrs chan<- error) func(*mautrix.DefaultSyncer) {
	t.Helper()
	stateStore := mautrix.NewMemoryStateStore()
	cli.StateStore = stateStore
	return func(syncer *mautrix.DefaultSyncer) {
		syncer.OnEvent(cli.StateStoreSyncHandler)
		mach := crypto.NewOlmMachine(cli, nil, crypto.NewMemoryStore(nil), stateStore.(crypto.StateStore))
		if err := mach.Load(ctx); err != nil {
			t.Fatalf("%s: loading the olm account: %v", cli.UserID, err)
		}
		if err := mach.ShareKeys(ctx, -1); err != nil {
			t.Fatalf("%s: uploading device keys: %v", cli.UserID, err)
		}
		syncer.OnSync(mach.ProcessSyncResponse)
		syncer.OnEventType(event.StateMember, mach.HandleMemberEvent)
		syncer.OnEventType(event.EventEncrypted, func(ctx context.Context, evt *event.Event) {
			go func() {
				dec, err := mach.DecryptMegolmEvent(ctx, evt)
				if errors.Is(err, crypto.NoSessionFound) {
					content := evt.Content.AsEncrypted()
					if mach.WaitForSession(ctx, evt.RoomID, content.SenderKey, content.SessionID, 10*time.Second) {
						dec, err = mach.DecryptMegolmEvent(ctx, evt)
					}
				}
				if err != nil {
					decryptErrs <- fmt.Errorf("%s decrypting %s: %w", cli.UserID, evt.ID, err)
					return
				}
				dec.Mautrix.EventSource |= event.SourceDecrypted
				syncer.Dispatch(ctx, dec)
			}()
		})
		*oc = olmClient{Client: cli, mach: mach}
	}
}

// sendEncrypted encrypts content with megolm, sharing a group session with
// the room's members first when there is none, and sends it.
func (oc *olmClient) sendEncrypted(ctx context.Context, roomID id.RoomID, content any) (*mautrix.RespSendEvent, error) {
	enc, err := oc.mach.EncryptMegolmEvent(ctx, roomID, event.EventMessage, content)
	if errors.Is(err, crypto.ErrNoGroupSession) || errors.Is(err, crypto.ErrSessionExpired) || errors.Is(err, crypto.ErrSessionNotShared) {
		members, merr := oc.JoinedMembers(ctx, roomID)
		if merr != nil {
			return nil, fmt.Errorf("members: %w", merr)
		}
		var users []id.UserID
		for u := range members.Joined {
			users = append(users, u)
		}
		if err := oc.mach.ShareGroupSession(ctx, roomID, users); err != nil {
			return nil, fmt.Errorf("sharing the group session: %w", err)
		}
		enc, err = oc.mach.EncryptMegolmEvent(ctx, roomID, event.EventMessage, content)
	}
	if err != nil {
		return nil, fmt.Errorf("encrypting: %w", err)
	}
	return oc.SendMessageEvent(ctx, roomID, event.EventEncrypted, enc)
}

// TestMautrixE2EE has two mautrix clients with olm devices exchange
// megolm-encrypted messages through hearth: device key upload and query,
// one-time key claim, to-device delivery of room keys, and /sync's device
// lists and key counts all have to work for either side to decrypt.
func TestMautrixE2EE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	baseURL, _ := startHearth(t)
	alice := register(t, ctx, baseURL, "alice")
	bob := register(t, ctx, baseURL, "bob")

	decryptErrs := make(chan error, 16)
	var aliceOlm, bobOlm olmClient
	aliceSync := startSync(t, alice, withCrypto(t, ctx, alice, &aliceOlm, decryptErrs))
	bobSync := startSync(t, bob, withCrypto(t, ctx, bob, &bobOlm, decryptErrs))

	// Each sees the other's device and its keys through /keys/query.
	keys, err := alice.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{bob.UserID: nil}})
	if err != nil {
		t.Fatalf("keys query: %v", err)
	}
	dev, ok := keys.DeviceKeys[bob.UserID][bob.DeviceID]
	if !ok || dev.Keys.GetEd25519(bob.DeviceID) == "" || dev.Keys.GetCurve25519(bob.DeviceID) == "" {
		t.Fatalf("alice's key query for bob = %+v", keys.DeviceKeys)
	}

	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "private_chat", Name: "Encrypted", Invite: []id.UserID{bob.UserID},
		InitialState: []*event.Event{{
			Type:    event.StateEncryption,
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}},
	})
	if err != nil {
		t.Fatalf("creating the encrypted room: %v", err)
	}
	room := created.RoomID
	bobSync.waitFor(t, "bob's invite", func(evt *event.Event) bool {
		return evt.RoomID == room && evt.Type == event.StateMember && evt.GetStateKey() == bob.UserID.String()
	})
	if _, err := bob.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("bob joining: %v", err)
	}
	aliceSync.waitFor(t, "bob's join", func(evt *event.Event) bool {
		return isIn(room, event.StateMember)(evt) && evt.GetStateKey() == bob.UserID.String() &&
			evt.Content.AsMember().Membership == event.MembershipJoin
	})
	bobSync.waitFor(t, "the encryption state in bob's sync", isIn(room, event.StateEncryption))

	exchange := []struct {
		from *olmClient
		to   *mautrix.Client
		rec  *recorder
		body string
	}{
		{&aliceOlm, bob, bobSync, "a secret from alice"},
		{&bobOlm, alice, aliceSync, "a secret from bob"},
		{&aliceOlm, bob, bobSync, "another secret from alice"},
	}
	for _, m := range exchange {
		sent, err := m.from.sendEncrypted(ctx, room, &event.MessageEventContent{MsgType: event.MsgText, Body: m.body})
		if err != nil {
			t.Fatalf("%s sending %q: %v", m.from.UserID, m.body, err)
		}
		raw, err := m.to.GetEvent(ctx, room, sent.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Type != event.EventEncrypted {
			t.Fatalf("%q was stored as %s, not m.room.encrypted", m.body, raw.Type.Type)
		}
		got := m.rec.waitFor(t, fmt.Sprintf("%s decrypting %q", m.to.UserID, m.body), func(evt *event.Event) bool {
			return evt.ID == sent.EventID && evt.Type == event.EventMessage
		})
		if got.Mautrix.EventSource&event.SourceDecrypted == 0 || got.Content.AsMessage().Body != m.body ||
			got.Sender != m.from.UserID {
			t.Fatalf("%s decrypted %+v, want %q from %s", m.to.UserID, got.Content.Raw, m.body, m.from.UserID)
		}
		select {
		case err := <-decryptErrs:
			t.Fatal(err)
		default:
		}
	}
}
