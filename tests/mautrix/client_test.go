package mautrix_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

const password = "correct horse battery staple"

// register creates a user through mautrix's RegisterDummy (the m.login.dummy
// user-interactive flow) and returns a client logged in as them.
func register(t *testing.T, ctx context.Context, baseURL, name string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(baseURL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: name, Password: password})
	if err != nil {
		t.Fatalf("registering %s: %v", name, err)
	}
	if resp.AccessToken == "" || resp.DeviceID == "" || !strings.HasPrefix(resp.UserID.String(), "@"+name+":") {
		t.Fatalf("register %s answered %+v", name, resp)
	}
	cli.UserID, cli.AccessToken, cli.DeviceID = resp.UserID, resp.AccessToken, resp.DeviceID
	who, err := cli.Whoami(ctx)
	if err != nil {
		t.Fatalf("whoami %s: %v", name, err)
	}
	if who.UserID != resp.UserID || who.DeviceID != resp.DeviceID {
		t.Fatalf("whoami %s = %+v, registered %s/%s", name, who, resp.UserID, resp.DeviceID)
	}
	return cli
}

// isIn returns a matcher for events of type typ in roomID (any source).
func isIn(roomID id.RoomID, typ event.Type) func(*event.Event) bool {
	return func(evt *event.Event) bool { return evt.RoomID == roomID && evt.Type == typ }
}

// wantErr fails unless err is the Matrix error want (matched by errcode with
// mautrix's errors.Is) with want's HTTP status.
func wantErr(t *testing.T, what string, err error, want mautrix.RespError) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %s", what, want.ErrCode)
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %s", what, err, want.ErrCode)
	}
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil && want.StatusCode != 0 &&
		httpErr.Response.StatusCode != want.StatusCode {
		t.Fatalf("%s: HTTP %d, want %d", what, httpErr.Response.StatusCode, want.StatusCode)
	}
}

func TestMautrixClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	baseURL, serverName := startHearth(t)

	probe, err := mautrix.NewClient(baseURL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := probe.Versions(ctx)
	if err != nil {
		t.Fatalf("versions: %v", err)
	}
	if !versions.ContainsGreaterOrEqual(mautrix.SpecV111) {
		t.Fatalf("versions %v do not include v1.11 (authenticated media)", versions.Versions)
	}

	alice := register(t, ctx, baseURL, "alice")
	bob := register(t, ctx, baseURL, "bob")
	carol := register(t, ctx, baseURL, "carol")

	t.Run("RegisterTaken", func(t *testing.T) {
		_, err := probe.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: "alice", Password: password})
		wantErr(t, "registering alice again", err, mautrix.MUserInUse)
	})

	t.Run("LoginLogout", func(t *testing.T) {
		cli, err := mautrix.NewClient(baseURL, "", "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = cli.Login(ctx, &mautrix.ReqLogin{
			Type:       mautrix.AuthTypePassword,
			Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "bob"},
			Password:   "wrong",
		})
		wantErr(t, "login with a wrong password", err, mautrix.MForbidden)
		resp, err := cli.Login(ctx, &mautrix.ReqLogin{
			Type:                     mautrix.AuthTypePassword,
			Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "bob"},
			Password:                 password,
			InitialDeviceDisplayName: "second device",
			StoreCredentials:         true,
		})
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if resp.UserID != bob.UserID || resp.DeviceID == bob.DeviceID || cli.AccessToken == "" {
			t.Fatalf("login answered %+v", resp)
		}
		if who, err := cli.Whoami(ctx); err != nil || who.DeviceID != resp.DeviceID {
			t.Fatalf("whoami after login = %+v, %v", who, err)
		}
		if _, err := cli.Logout(ctx); err != nil {
			t.Fatalf("logout: %v", err)
		}
		_, err = cli.Whoami(ctx)
		wantErr(t, "whoami after logout", err, mautrix.MUnknownToken)
		// The first device is still logged in.
		if _, err := bob.Whoami(ctx); err != nil {
			t.Fatalf("bob's first device after the second logged out: %v", err)
		}
	})

	aliceSync := startSync(t, alice)
	bobSync := startSync(t, bob)

	// A public room that bob joins by ID.
	pub, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "public_chat", Name: "Lobby", Topic: "first topic", RoomAliasName: "lobby",
	})
	if err != nil {
		t.Fatalf("creating the public room: %v", err)
	}
	room := pub.RoomID
	if res, err := bob.ResolveAlias(ctx, id.NewRoomAlias("lobby", serverName)); err != nil || res.RoomID != room {
		t.Fatalf("resolving #lobby = %+v, %v; want %s", res, err, room)
	}
	if _, err := bob.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("bob joining the public room: %v", err)
	}
	aliceSync.waitFor(t, "bob's join seen by alice", func(evt *event.Event) bool {
		return isIn(room, event.StateMember)(evt) && evt.GetStateKey() == bob.UserID.String() &&
			evt.Content.AsMember().Membership == event.MembershipJoin
	})
	if jm, err := alice.JoinedMembers(ctx, room); err != nil || len(jm.Joined) != 2 {
		t.Fatalf("joined members = %+v, %v; want alice and bob", jm, err)
	}

	var sent []id.EventID
	t.Run("MessagesInOrder", func(t *testing.T) {
		for i := range 6 {
			from := alice
			if i%2 == 1 {
				from = bob
			}
			resp, err := from.SendText(ctx, room, fmt.Sprintf("message %d", i))
			if err != nil {
				t.Fatalf("sending message %d: %v", i, err)
			}
			sent = append(sent, resp.EventID)
		}
		for name, rec := range map[string]*recorder{"alice": aliceSync, "bob": bobSync} {
			rec.waitFor(t, name+" seeing the last message", func(evt *event.Event) bool { return evt.ID == sent[len(sent)-1] })
			var got []string
			for _, evt := range rec.all(isIn(room, event.EventMessage)) {
				if evt.Mautrix.EventSource&event.SourceTimeline == 0 {
					t.Errorf("%s: message %s came from %s, not the timeline", name, evt.ID, evt.Mautrix.EventSource)
				}
				got = append(got, evt.Content.AsMessage().Body)
			}
			want := []string{"message 0", "message 1", "message 2", "message 3", "message 4", "message 5"}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s synced messages %q, want %q", name, got, want)
			}
		}
		// Sender and IDs survive the round trip.
		evt := bobSync.waitFor(t, "message 0", func(evt *event.Event) bool { return evt.ID == sent[0] })
		if evt.Sender != alice.UserID || evt.Timestamp == 0 {
			t.Errorf("message 0 = sender %s ts %d", evt.Sender, evt.Timestamp)
		}
		// A transaction ID retried answers the same event.
		content := map[string]any{"msgtype": "m.text", "body": "once"}
		a, err := alice.SendMessageEvent(ctx, room, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: "txn-once"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := alice.SendMessageEvent(ctx, room, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: "txn-once"})
		if err != nil || b.EventID != a.EventID {
			t.Fatalf("retried transaction answered %v, %v; want %s", b, err, a.EventID)
		}
		sent = append(sent, a.EventID)
	})

	t.Run("State", func(t *testing.T) {
		var topic event.TopicEventContent
		if err := bob.StateEvent(ctx, room, event.StateTopic, "", &topic); err != nil || topic.Topic != "first topic" {
			t.Fatalf("initial topic = %q, %v", topic.Topic, err)
		}
		if _, err := alice.SendStateEvent(ctx, room, event.StateTopic, "", &event.TopicEventContent{Topic: "second topic"}); err != nil {
			t.Fatalf("setting the topic: %v", err)
		}
		if _, err := alice.SendStateEvent(ctx, room, event.StateRoomName, "", &event.RoomNameEventContent{Name: "Renamed"}); err != nil {
			t.Fatalf("setting the name: %v", err)
		}
		if err := bob.StateEvent(ctx, room, event.StateTopic, "", &topic); err != nil || topic.Topic != "second topic" {
			t.Fatalf("topic read back = %q, %v", topic.Topic, err)
		}
		var name event.RoomNameEventContent
		if err := bob.StateEvent(ctx, room, event.StateRoomName, "", &name); err != nil || name.Name != "Renamed" {
			t.Fatalf("name read back = %q, %v", name.Name, err)
		}
		full, err := bob.FullStateEvent(ctx, room, event.StateTopic, "")
		if err != nil || full.Sender != alice.UserID || full.GetStateKey() != "" {
			t.Fatalf("full topic event = %+v, %v", full, err)
		}
		all, err := bob.State(ctx, room)
		if err != nil {
			t.Fatalf("whole state: %v", err)
		}
		if got := all[event.StateRoomName][""]; got == nil || got.Content.AsRoomName().Name != "Renamed" {
			t.Fatalf("whole state's name = %+v", got)
		}
		if all[event.StateMember][bob.UserID.String()] == nil || all[event.StateCreate][""] == nil {
			t.Fatalf("whole state lacks bob's membership or the create event: %v", all)
		}
		bobSync.waitFor(t, "the new topic in bob's sync", func(evt *event.Event) bool {
			return isIn(room, event.StateTopic)(evt) && evt.Content.AsTopic().Topic == "second topic"
		})
		// Bob has power level 0: he may not rename the room.
		_, err = bob.SendStateEvent(ctx, room, event.StateRoomName, "", &event.RoomNameEventContent{Name: "bob's"})
		wantErr(t, "bob renaming the room", err, mautrix.MForbidden)
		var missing event.TopicEventContent
		err = bob.StateEvent(ctx, room, event.Type{Type: "org.example.none", Class: event.StateEventType}, "", &missing)
		wantErr(t, "reading state that was never set", err, mautrix.MNotFound)
	})

	t.Run("Media", func(t *testing.T) {
		cfg, err := alice.GetMediaConfig(ctx)
		if err != nil || cfg.UploadSize <= 0 {
			t.Fatalf("media config = %+v, %v", cfg, err)
		}
		data := bytes.Repeat([]byte("hearth media "), 1000)
		up, err := alice.UploadMedia(ctx, mautrix.ReqUploadMedia{
			ContentBytes: data, ContentType: "text/plain", FileName: "notes.txt",
		})
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
		if up.ContentURI.Homeserver != serverName || up.ContentURI.FileID == "" {
			t.Fatalf("upload answered %s", up.ContentURI)
		}
		got, err := bob.DownloadBytes(ctx, up.ContentURI)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download = %d bytes, %v; want %d bytes", len(got), err, len(data))
		}
		resp, err := bob.Download(ctx, up.ContentURI)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("download Content-Type = %q", ct)
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "notes.txt") {
			t.Errorf("download Content-Disposition = %q", cd)
		}
		// Authenticated media refuses a client without a token.
		_, err = probe.DownloadBytes(ctx, up.ContentURI)
		wantErr(t, "download without a token", err, mautrix.MMissingToken)
		_, err = bob.DownloadBytes(ctx, id.ContentURI{Homeserver: serverName, FileID: "nosuchmedia"})
		wantErr(t, "downloading unknown media", err, mautrix.MNotFound)

		// An image, then a thumbnail of it.
		img := image.NewRGBA(image.Rect(0, 0, 256, 128))
		for x := range 256 {
			for y := range 128 {
				img.Set(x, y, color.RGBA{uint8(x), uint8(y), 100, 255})
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		pic, err := alice.UploadBytesWithName(ctx, buf.Bytes(), "image/png", "pic.png")
		if err != nil {
			t.Fatalf("uploading a PNG: %v", err)
		}
		th, err := bob.DownloadThumbnail(ctx, pic.ContentURI, 32, 32, mautrix.DownloadThumbnailExtra{Method: "scale"})
		if err != nil {
			t.Fatalf("thumbnail: %v", err)
		}
		defer th.Body.Close()
		thumbBytes, err := io.ReadAll(th.Body)
		if err != nil {
			t.Fatal(err)
		}
		thumb, _, err := image.Decode(bytes.NewReader(thumbBytes))
		if err != nil {
			t.Fatalf("thumbnail (%s) does not decode: %v", th.Header.Get("Content-Type"), err)
		}
		if b := thumb.Bounds(); b.Dx() > 256 || b.Dy() > 128 || b.Dx() < 32 {
			t.Errorf("thumbnail is %dx%d", b.Dx(), b.Dy())
		}

		// The file is sent as an m.file message and arrives with its URL.
		msg, err := alice.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgFile, Body: "notes.txt", URL: up.ContentURI.CUString(),
			Info: &event.FileInfo{MimeType: "text/plain", Size: len(data)},
		})
		if err != nil {
			t.Fatal(err)
		}
		evt := bobSync.waitFor(t, "the file message", func(evt *event.Event) bool { return evt.ID == msg.EventID })
		if u, err := evt.Content.AsMessage().URL.Parse(); err != nil || u != up.ContentURI {
			t.Fatalf("file message URL = %v, %v", u, err)
		}
		sent = append(sent, msg.EventID)
	})

	t.Run("MessagesPagination", func(t *testing.T) {
		// Backwards from the end, two at a time, until the room's start.
		var backward []id.EventID
		from := ""
		for page := 0; ; page++ {
			if page > 50 {
				t.Fatal("pagination did not end after 50 pages")
			}
			resp, err := bob.Messages(ctx, room, from, "", mautrix.DirectionBackward, nil, 2)
			if err != nil {
				t.Fatalf("messages page %d: %v", page, err)
			}
			if len(resp.Chunk) > 2 {
				t.Fatalf("page %d has %d events, limit 2", page, len(resp.Chunk))
			}
			for _, evt := range resp.Chunk {
				if evt.RoomID != room {
					t.Fatalf("event %s has room %q", evt.ID, evt.RoomID)
				}
				backward = append(backward, evt.ID)
			}
			if resp.End == "" {
				break
			}
			from = resp.End
		}
		seen := make(map[id.EventID]bool)
		for _, e := range backward {
			if seen[e] {
				t.Fatalf("event %s paginated twice", e)
			}
			seen[e] = true
		}
		// Newest first: the sent events appear in reverse order.
		var mine []id.EventID
		for _, e := range backward {
			for _, s := range sent {
				if e == s {
					mine = append(mine, e)
				}
			}
		}
		if len(mine) != len(sent) {
			t.Fatalf("backward pagination found %d of %d sent events", len(mine), len(sent))
		}
		for i := range mine {
			if mine[i] != sent[len(sent)-1-i] {
				t.Fatalf("backward order: position %d is %s, want %s", i, mine[i], sent[len(sent)-1-i])
			}
		}
		// The oldest event is the room's creation.
		first, err := bob.GetEvent(ctx, room, backward[len(backward)-1])
		if err != nil || first.Type != event.StateCreate {
			t.Fatalf("oldest event = %+v, %v; want m.room.create", first, err)
		}

		// Forwards from the start token of a backward page gives the rest
		// in order, without repeats.
		resp, err := bob.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 3)
		if err != nil {
			t.Fatal(err)
		}
		older, err := bob.Messages(ctx, room, resp.End, "", mautrix.DirectionBackward, nil, 3)
		if err != nil {
			t.Fatal(err)
		}
		fwd, err := bob.Messages(ctx, room, older.End, "", mautrix.DirectionForward, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		var fwdIDs []id.EventID
		for _, evt := range fwd.Chunk {
			fwdIDs = append(fwdIDs, evt.ID)
		}
		var wantFwd []id.EventID
		for i := len(older.Chunk) - 1; i >= 0; i-- {
			wantFwd = append(wantFwd, older.Chunk[i].ID)
		}
		for i := len(resp.Chunk) - 1; i >= 0; i-- {
			wantFwd = append(wantFwd, resp.Chunk[i].ID)
		}
		if fmt.Sprint(fwdIDs) != fmt.Sprint(wantFwd) {
			t.Fatalf("forward from %q = %v, want %v", older.End, fwdIDs, wantFwd)
		}

		// Carol never joined: the room's history is not hers to read.
		_, err = carol.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 5)
		if err == nil {
			// public_chat rooms default to "shared" visibility: a non-member
			// may not read it either way.
			t.Fatal("carol read the history of a room she never joined")
		}
		wantErr(t, "carol paginating", err, mautrix.MForbidden)
	})

	t.Run("Typing", func(t *testing.T) {
		if _, err := bob.UserTyping(ctx, room, true, 20*time.Second); err != nil {
			t.Fatalf("typing: %v", err)
		}
		aliceSync.waitFor(t, "bob typing", func(evt *event.Event) bool {
			if !isIn(room, event.EphemeralEventTyping)(evt) {
				return false
			}
			ids := evt.Content.AsTyping().UserIDs
			return len(ids) == 1 && ids[0] == bob.UserID
		})
		if _, err := bob.UserTyping(ctx, room, false, 0); err != nil {
			t.Fatalf("stop typing: %v", err)
		}
		aliceSync.waitFor(t, "bob no longer typing", func(evt *event.Event) bool {
			return isIn(room, event.EphemeralEventTyping)(evt) && len(evt.Content.AsTyping().UserIDs) == 0
		})
		_, err := carol.UserTyping(ctx, room, true, time.Second)
		wantErr(t, "carol typing in a room she is not in", err, mautrix.MForbidden)
	})

	t.Run("Receipts", func(t *testing.T) {
		last := sent[len(sent)-1]
		if err := bob.MarkRead(ctx, room, last); err != nil {
			t.Fatalf("read receipt: %v", err)
		}
		aliceSync.waitFor(t, "bob's read receipt", func(evt *event.Event) bool {
			if !isIn(room, event.EphemeralEventReceipt)(evt) {
				return false
			}
			r, ok := (*evt.Content.AsReceipt())[last][event.ReceiptTypeRead][bob.UserID]
			return ok && !r.Timestamp.IsZero()
		})
		err := bob.MarkRead(ctx, room, "$nosuchevent")
		if err == nil {
			t.Fatal("a receipt for an unknown event succeeded")
		}
	})

	t.Run("Redaction", func(t *testing.T) {
		target := sent[2] // "message 2", alice's
		red, err := alice.RedactEvent(ctx, room, target, mautrix.ReqRedact{Reason: "oops"})
		if err != nil {
			t.Fatalf("redact: %v", err)
		}
		evt := bobSync.waitFor(t, "the redaction", func(evt *event.Event) bool { return evt.ID == red.EventID })
		if evt.Type != event.EventRedaction || evt.Redacts != target && evt.Content.AsRedaction().Redacts != target {
			t.Fatalf("redaction event = %+v", evt)
		}
		got, err := bob.GetEvent(ctx, room, target)
		if err != nil {
			t.Fatalf("fetching the redacted event: %v", err)
		}
		if len(got.Content.Raw) != 0 || got.Unsigned.RedactedBecause == nil || got.Unsigned.RedactedBecause.ID != red.EventID {
			t.Fatalf("redacted event = content %v, redacted_because %+v", got.Content.Raw, got.Unsigned.RedactedBecause)
		}
		// Bob (power 0) may not redact alice's message.
		_, err = bob.RedactEvent(ctx, room, sent[0])
		wantErr(t, "bob redacting alice's message", err, mautrix.MForbidden)
	})

	t.Run("PrivateRoom", func(t *testing.T) {
		priv, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "private_chat", Name: "Secret", Invite: []id.UserID{bob.UserID},
		})
		if err != nil {
			t.Fatalf("creating the private room: %v", err)
		}
		bobSync.waitFor(t, "bob's invite", func(evt *event.Event) bool {
			return evt.RoomID == priv.RoomID && evt.Mautrix.EventSource&event.SourceInvite != 0 &&
				evt.Type == event.StateMember && evt.GetStateKey() == bob.UserID.String() &&
				evt.Content.AsMember().Membership == event.MembershipInvite
		})
		bobSync.waitFor(t, "the private room's name in bob's invite", func(evt *event.Event) bool {
			return evt.RoomID == priv.RoomID && evt.Mautrix.EventSource&event.SourceInvite != 0 &&
				evt.Type == event.StateRoomName && evt.Content.AsRoomName().Name == "Secret"
		})
		_, err = carol.JoinRoomByID(ctx, priv.RoomID)
		wantErr(t, "carol joining an invite-only room", err, mautrix.MForbidden)
		_, err = carol.SendText(ctx, priv.RoomID, "let me in")
		wantErr(t, "carol sending to a room she is not in", err, mautrix.MForbidden)
		if _, err := bob.JoinRoomByID(ctx, priv.RoomID); err != nil {
			t.Fatalf("bob accepting the invite: %v", err)
		}
		msg, err := bob.SendText(ctx, priv.RoomID, "thanks for the invite")
		if err != nil {
			t.Fatal(err)
		}
		evt := aliceSync.waitFor(t, "bob's message in the private room", func(evt *event.Event) bool { return evt.ID == msg.EventID })
		if evt.RoomID != priv.RoomID || evt.Content.AsMessage().Body != "thanks for the invite" {
			t.Fatalf("alice got %+v", evt)
		}
		// Bob leaves; alice sees it and bob can no longer send.
		if _, err := bob.LeaveRoom(ctx, priv.RoomID); err != nil {
			t.Fatalf("leave: %v", err)
		}
		aliceSync.waitFor(t, "bob leaving", func(evt *event.Event) bool {
			return isIn(priv.RoomID, event.StateMember)(evt) && evt.GetStateKey() == bob.UserID.String() &&
				evt.Content.AsMember().Membership == event.MembershipLeave
		})
		_, err = bob.SendText(ctx, priv.RoomID, "after leaving")
		wantErr(t, "bob sending after leaving", err, mautrix.MForbidden)
	})

	t.Run("Errors", func(t *testing.T) {
		_, err := alice.ResolveAlias(ctx, id.NewRoomAlias("nosuchalias", serverName))
		wantErr(t, "resolving an unknown alias", err, mautrix.MNotFound)
		_, err = alice.GetEvent(ctx, room, "$nosuchevent")
		wantErr(t, "fetching an unknown event", err, mautrix.MNotFound)
		unknown := id.RoomID("!nosuchroom:" + serverName)
		_, err = alice.JoinRoomByID(ctx, unknown)
		wantErr(t, "joining an unknown room", err, mautrix.MNotFound)
		_, err = alice.SendText(ctx, unknown, "hello?")
		if err == nil || !(errors.Is(err, mautrix.MNotFound) || errors.Is(err, mautrix.MForbidden)) {
			t.Fatalf("sending to an unknown room: %v, want M_NOT_FOUND or M_FORBIDDEN", err)
		}
		bad, err := mautrix.NewClient(baseURL, alice.UserID, "not-a-token")
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Whoami(ctx)
		wantErr(t, "an unknown access token", err, mautrix.MUnknownToken)
		_, err = probe.Whoami(ctx)
		wantErr(t, "no access token", err, mautrix.MMissingToken)
		_, err = alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomAliasName: "lobby"})
		wantErr(t, "creating a room with a taken alias", err, mautrix.MRoomInUse)
	})
}
