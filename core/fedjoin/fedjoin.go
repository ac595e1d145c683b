// Package fedjoin is the joining side of federation: it joins local users to
// rooms this server is not in (make_join, then send_join, then importing the
// room's state into the DAG) and resolves room aliases of other servers. It
// implements rooms.RemoteJoiner and rooms.AliasResolver.
package fedjoin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"hearth/core/clientapi/rooms"
	"hearth/core/clientevent"
	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/core/matrixerr"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/signing"
)

// Config is what a Joiner needs; every field is required.
type Config struct {
	ServerName string
	// Key signs our membership events.
	Key signing.Key
	// DAG receives the joined rooms.
	DAG *room.DAG
	// Client talks to the resident servers.
	Client *fedclient.Client
	// Now is the clock.
	Now func() time.Time
	// Rand makes event IDs of room versions 1 and 2.
	Rand io.Reader
	// Invites, when set, holds the invites of local users to rooms this
	// server is not in: a join or leave goes through the inviter's server
	// first and settles the invite.
	Invites Invites
}

// Invites is the store of invites to rooms this server is not in
// (*fedserver.Handlers implements it).
type Invites interface {
	// InviteSender returns who invited userID to roomID, if a pending
	// invite is stored.
	InviteSender(ctx context.Context, userID, roomID string) (string, bool, error)
	// DropInvite forgets the invite once the user joined.
	DropInvite(ctx context.Context, userID, roomID string) error
	// RejectInvite records the user's leave (client form) rejecting it.
	RejectInvite(ctx context.Context, userID, roomID string, left json.RawMessage) error
}

// Joiner joins remote rooms. It is safe for concurrent use.
type Joiner struct {
	cfg Config
}

var (
	_ rooms.RemoteJoiner  = (*Joiner)(nil)
	_ rooms.AliasResolver = (*Joiner)(nil)
	_ rooms.RemoteLeaver  = (*Joiner)(nil)
	_ rooms.RemoteKnocker = (*Joiner)(nil)
)

// New checks cfg and returns a Joiner.
func New(cfg Config) (*Joiner, error) {
	if cfg.ServerName == "" || cfg.DAG == nil || cfg.Client == nil || cfg.Now == nil || cfg.Rand == nil {
		return nil, errors.New("fedjoin: Config needs ServerName, DAG, Client, Now and Rand")
	}
	if err := cfg.Key.Validate(); err != nil {
		return nil, fmt.Errorf("fedjoin: %w", err)
	}
	return &Joiner{cfg: cfg}, nil
}

func serverOf(id string) string {
	_, s, _ := strings.Cut(id, ":")
	return s
}

// ResolveAlias asks the alias's server which room it names.
func (j *Joiner) ResolveAlias(ctx context.Context, alias string) (string, []string, error) {
	server := serverOf(alias)
	if server == "" {
		return "", nil, fmt.Errorf("%w: %s", rooms.ErrUnknownAlias, alias)
	}
	d, err := j.cfg.Client.QueryDirectory(ctx, server, alias)
	if fedclient.StatusOf(err) == http.StatusNotFound {
		return "", nil, fmt.Errorf("%w: %s", rooms.ErrUnknownAlias, alias)
	}
	if err != nil {
		return "", nil, matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "resolving %s on %s: %v", alias, server, err)
	}
	return d.RoomID, d.Servers, nil
}

// supportedVersions are the room versions this server can join.
func supportedVersions() []string {
	var out []string
	for _, v := range roomversion.All() {
		out = append(out, v.ID)
	}
	return out
}

// JoinRemote joins userID to a room of other servers, trying each server
// in turn, and returns the room ID once the room is in the DAG.
func (j *Joiner) JoinRemote(ctx context.Context, target string, servers []string, userID string, content json.RawMessage) (string, error) {
	roomID := target
	if strings.HasPrefix(target, "#") {
		id, more, err := j.ResolveAlias(ctx, target)
		if errors.Is(err, rooms.ErrUnknownAlias) {
			return "", matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "room alias %s not found", target)
		}
		if err != nil {
			return "", err
		}
		roomID = id
		servers = append(slices.Clone(servers), more...)
	}
	inviter := j.inviterServer(ctx, userID, roomID)
	if inviter != "" {
		servers = append([]string{inviter}, servers...)
	}
	if s := serverOf(roomID); s != "" {
		servers = append(servers, s)
	}
	if err := j.viaServers(servers, "join", roomID, func(dest string) error {
		return j.joinVia(ctx, dest, roomID, userID, content)
	}); err != nil {
		return "", err
	}
	if inviter != "" {
		if err := j.cfg.Invites.DropInvite(ctx, userID, roomID); err != nil {
			return "", err
		}
	}
	return roomID, nil
}

// viaServers tries a membership handshake through each server once, in
// order, never through this one. It returns nil at the first success, at
// once on a 403 (the room's rules refuse, whichever resident is asked),
// else the last error, or 404 when there was no server to try.
func (j *Joiner) viaServers(servers []string, what, roomID string, try func(dest string) error) error {
	var lastErr error
	tried := map[string]bool{j.cfg.ServerName: true}
	for _, dest := range servers {
		if tried[dest] {
			continue
		}
		tried[dest] = true
		err := try(dest)
		if err == nil {
			return nil
		}
		lastErr = err
		var me matrixerr.Error
		if errors.As(err, &me) && me.Status == http.StatusForbidden {
			return err
		}
	}
	if lastErr == nil {
		return matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "no server to %s %s through", what, roomID)
	}
	return lastErr
}

// remoteErr turns a remote's refusal into a client error.
func remoteErr(what string, err error) error {
	var fe *fedclient.Error
	if errors.As(err, &fe) && fe.Code != "" && fe.Status >= 400 && fe.Status < 500 {
		return matrixerr.New(fe.Status, fe.Code, "%s: %s", what, fe.Message)
	}
	return matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "%s: %v", what, err)
}

// fillTemplate completes a make_join, make_leave or make_knock template
// as userID's event from this server and signs it.
func (j *Joiner) fillTemplate(tmpl fedclient.MembershipTemplate, userID string, content json.RawMessage) (*event.PDU, error) {
	verID := tmpl.RoomVersion
	if verID == "" {
		verID = "1"
	}
	v, ok := roomversion.Lookup(verID)
	if !ok {
		return nil, matrixerr.New(http.StatusBadRequest, "M_UNSUPPORTED_ROOM_VERSION", "room version %s is not supported", verID)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(tmpl.Event, &fields); err != nil {
		return nil, fmt.Errorf("fedjoin: template: %w", err)
	}
	var tc map[string]json.RawMessage
	if err := json.Unmarshal(fields["content"], &tc); err != nil || tc == nil {
		return nil, errors.New("fedjoin: template without content")
	}
	var sender, stateKey string
	json.Unmarshal(fields["sender"], &sender)
	json.Unmarshal(fields["state_key"], &stateKey)
	if sender != userID || stateKey != userID {
		return nil, errors.New("fedjoin: the template is for another user")
	}
	// The client's fields (reason, displayname...) join the template's,
	// which keep membership and join_authorised_via_users_server.
	var extra map[string]json.RawMessage
	json.Unmarshal(content, &extra)
	for k, val := range extra {
		if _, set := tc[k]; !set {
			tc[k] = val
		}
	}
	fields["content"], _ = json.Marshal(tc)
	fields["origin"], _ = json.Marshal(j.cfg.ServerName)
	fields["origin_server_ts"], _ = json.Marshal(j.cfg.Now().UnixMilli())
	delete(fields, "signatures")
	delete(fields, "hashes")
	delete(fields, "unsigned")
	if v.EventIDFormat == roomversion.EventIDInEvent {
		b := make([]byte, 18)
		if _, err := io.ReadFull(j.cfg.Rand, b); err != nil {
			return nil, err
		}
		fields["event_id"], _ = json.Marshal("$" + base64.RawURLEncoding.EncodeToString(b) + ":" + j.cfg.ServerName)
	} else {
		delete(fields, "event_id")
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	signed, err := event.Sign(raw, v, j.cfg.ServerName, j.cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("fedjoin: sign: %w", err)
	}
	return event.Parse(signed, v)
}

// joinVia joins through one resident server.
func (j *Joiner) joinVia(ctx context.Context, dest, roomID, userID string, content json.RawMessage) error {
	tmpl, err := j.cfg.Client.MakeJoin(ctx, dest, roomID, userID, supportedVersions())
	if err != nil {
		return remoteErr("make_join via "+dest, err)
	}
	pdu, err := j.fillTemplate(tmpl, userID, content)
	if err != nil {
		return err
	}
	v := pdu.Version()
	resp, err := j.cfg.Client.SendJoin(ctx, dest, roomID, pdu.ID(), pdu.JSON(), false)
	if err != nil {
		return remoteErr("send_join via "+dest, err)
	}
	if len(resp.Event) > 0 {
		// A restricted join comes back with the authorising server's
		// signature; it must still be our event.
		signed, err := event.Parse(resp.Event, v)
		if err != nil || signed.ID() != pdu.ID() {
			return matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "send_join via %s returned another event", dest)
		}
		pdu = signed
	}
	parse := func(raws []json.RawMessage) ([]*event.PDU, error) {
		out := make([]*event.PDU, 0, len(raws))
		for _, raw := range raws {
			ev, err := event.Parse(raw, v)
			if err != nil {
				return nil, fmt.Errorf("fedjoin: send_join answer: %w", err)
			}
			out = append(out, ev)
		}
		return out, nil
	}
	state, err := parse(resp.State)
	if err != nil {
		return matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "%v", err)
	}
	chain, err := parse(resp.AuthChain)
	if err != nil {
		return matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "%v", err)
	}
	res, err := j.cfg.DAG.Import(ctx, pdu, state, chain)
	if err != nil {
		if _, verr := j.cfg.DAG.Version(ctx, roomID); verr == nil {
			// Another join of a local user imported the room first:
			// our event then arrives like any other.
			_, err = j.cfg.DAG.Accept(ctx, pdu)
			return err
		}
		return matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "importing the room from %s: %v", dest, err)
	}
	if res.Outcome != room.Accepted {
		return matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "the join was %s: %v", res.Outcome, res.Reason)
	}
	return nil
}

// inviterServer returns the server of whoever invited userID to roomID,
// or "" without a stored invite.
func (j *Joiner) inviterServer(ctx context.Context, userID, roomID string) string {
	if j.cfg.Invites == nil {
		return ""
	}
	sender, ok, err := j.cfg.Invites.InviteSender(ctx, userID, roomID)
	if err != nil || !ok {
		return ""
	}
	return serverOf(sender)
}

// LeaveRemote makes userID leave a room this server does not have, or
// reject an invite to it: through the inviter's server, then the room
// ID's server. A rejected invite is recorded so that sync shows the leave.
func (j *Joiner) LeaveRemote(ctx context.Context, roomID, userID string, content json.RawMessage) error {
	var servers []string
	if s := j.inviterServer(ctx, userID, roomID); s != "" {
		servers = append(servers, s)
	}
	if s := serverOf(roomID); s != "" {
		servers = append(servers, s)
	}
	var pdu *event.PDU
	if err := j.viaServers(servers, "leave", roomID, func(dest string) error {
		var err error
		pdu, err = j.LeaveVia(ctx, dest, roomID, userID, content)
		return err
	}); err != nil {
		return err
	}
	if j.cfg.Invites == nil {
		return nil
	}
	left, err := clientevent.Format(pdu, clientevent.Options{OmitRoomID: true, NowMS: j.cfg.Now().UnixMilli()})
	if err != nil {
		return err
	}
	return j.cfg.Invites.RejectInvite(ctx, userID, roomID, left)
}

// LeaveVia makes userID leave (or reject an invite to) a room through
// dest, a server in the room: make_leave, then send_leave, and returns the
// leave event. The leave arrives in the DAG through the room's
// transactions when this server is still in the room.
func (j *Joiner) LeaveVia(ctx context.Context, dest, roomID, userID string, content json.RawMessage) (*event.PDU, error) {
	tmpl, err := j.cfg.Client.MakeLeave(ctx, dest, roomID, userID)
	if err != nil {
		return nil, remoteErr("make_leave via "+dest, err)
	}
	pdu, err := j.fillTemplate(tmpl, userID, content)
	if err != nil {
		return nil, err
	}
	if err := j.cfg.Client.SendLeave(ctx, dest, roomID, pdu.ID(), pdu.JSON()); err != nil {
		return nil, remoteErr("send_leave via "+dest, err)
	}
	return pdu, nil
}

// KnockRemote knocks on a room this server does not have, through the
// via servers and then the room ID's server.
func (j *Joiner) KnockRemote(ctx context.Context, roomID string, via []string, userID string, content json.RawMessage) error {
	servers := slices.Clone(via)
	if s := serverOf(roomID); s != "" {
		servers = append(servers, s)
	}
	return j.viaServers(servers, "knock on", roomID, func(dest string) error {
		_, err := j.KnockVia(ctx, dest, roomID, userID, content)
		return err
	})
}

// KnockVia knocks on a room through dest and returns the stripped state
// the resident server shows the knocking user.
func (j *Joiner) KnockVia(ctx context.Context, dest, roomID, userID string, content json.RawMessage) ([]json.RawMessage, error) {
	tmpl, err := j.cfg.Client.MakeKnock(ctx, dest, roomID, userID, supportedVersions())
	if err != nil {
		return nil, remoteErr("make_knock via "+dest, err)
	}
	pdu, err := j.fillTemplate(tmpl, userID, content)
	if err != nil {
		return nil, err
	}
	state, err := j.cfg.Client.SendKnock(ctx, dest, roomID, pdu.ID(), pdu.JSON())
	if err != nil {
		return nil, remoteErr("send_knock via "+dest, err)
	}
	return state, nil
}

// strippedTypes are the state events an invitee's server is sent with an
// invite (spec "Stripped state").
var strippedTypes = []string{
	"m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar",
	"m.room.canonical_alias", "m.room.encryption", "m.room.topic",
}

// SendInvite sends a local user's invite of a user of another server to
// the invitee's server when no member of that server is joined to the room
// (otherwise the room's transactions carry it), with the room's stripped
// state. The invite is in the DAG already and the answer is dropped; the
// homeserver uses Countersign instead, before the invite is stored.
func (j *Joiner) SendInvite(ctx context.Context, pdu *event.PDU) error {
	target, _ := pdu.StateKey()
	dest := serverOf(target)
	if dest == "" || dest == j.cfg.ServerName {
		return nil
	}
	st, err := j.cfg.DAG.StateBefore(ctx, pdu.ID())
	if err != nil {
		return fmt.Errorf("fedjoin: state before %s: %w", pdu.ID(), err)
	}
	for k, id := range st {
		if k.Type == "m.room.member" && serverOf(k.StateKey) == dest {
			ev, err := j.cfg.DAG.Event(ctx, id)
			if err == nil && ev.Membership() == "join" {
				return nil
			}
		}
	}
	req, err := j.inviteRequest(ctx, pdu, st)
	if err != nil {
		return err
	}
	if _, err = j.cfg.Client.Invite(ctx, dest, pdu.RoomID(), pdu.ID(), req); err != nil {
		return remoteErr("invite via "+dest, err)
	}
	return nil
}

// Countersign is room.Config.Countersign for federation: a local user's
// invite of a user of another server goes to the invitee's server first
// (PUT /_matrix/federation/v2/invite, as the spec has it), and the invite
// is stored with the signature that server adds, which other servers
// require (Dendrite discards an invite event without it, and the invitee's
// join then fails its auth check). An invite the invitee's server refuses
// is not stored. Any other event is returned as is. before is the room's
// state before pdu.
func (j *Joiner) Countersign(ctx context.Context, pdu *event.PDU, before room.State) (*event.PDU, error) {
	target, ok := pdu.StateKey()
	if !ok || pdu.Type() != "m.room.member" || pdu.Membership() != "invite" || serverOf(pdu.Sender()) != j.cfg.ServerName {
		return pdu, nil
	}
	dest := serverOf(target)
	if dest == "" || dest == j.cfg.ServerName {
		return pdu, nil
	}
	var c struct {
		ThirdParty json.RawMessage `json:"third_party_invite"`
	}
	if json.Unmarshal(pdu.Content(), &c) == nil && len(c.ThirdParty) > 0 {
		return pdu, nil
	}
	req, err := j.inviteRequest(ctx, pdu, before)
	if err != nil {
		return nil, err
	}
	raw, err := j.cfg.Client.Invite(ctx, dest, pdu.RoomID(), pdu.ID(), req)
	if err != nil {
		return nil, remoteErr("invite via "+dest, err)
	}
	signed, err := event.Parse(raw, pdu.Version())
	if err != nil {
		return nil, matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "invite via %s: bad event in the answer: %v", dest, err)
	}
	if signed.ID() != pdu.ID() {
		return nil, matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "invite via %s: the answer is event %s, not %s", dest, signed.ID(), pdu.ID())
	}
	theirs := signed.Signatures()[dest]
	if len(theirs) == 0 {
		return nil, matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "invite via %s: the answer is not signed by %s", dest, dest)
	}
	// Our own bytes with only the invitee server's signatures added.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(pdu.JSON(), &obj); err != nil {
		return nil, err
	}
	sigs := map[string]map[string]string{dest: theirs}
	for srv, ks := range pdu.Signatures() {
		sigs[srv] = ks
	}
	if obj["signatures"], err = json.Marshal(sigs); err != nil {
		return nil, err
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return event.Load(pdu.ID(), []byte(strings.TrimSuffix(buf.String(), "\n")), pdu.Version())
}

// inviteRequest is the /invite body for pdu: the event and the room's
// stripped state from st (the state before the invite).
func (j *Joiner) inviteRequest(ctx context.Context, pdu *event.PDU, st room.State) (fedclient.InviteRequest, error) {
	sel := room.State{}
	for _, t := range strippedTypes {
		if id, ok := st[room.StateKeyOf(t, "")]; ok {
			sel[room.StateKeyOf(t, "")] = id
		}
	}
	if id, ok := st[room.StateKeyOf("m.room.member", pdu.Sender())]; ok {
		sel[room.StateKeyOf("m.room.member", pdu.Sender())] = id
	}
	evs, err := j.cfg.DAG.StateEvents(ctx, sel)
	if err != nil {
		return fedclient.InviteRequest{}, err
	}
	stripped := make([]json.RawMessage, 0, len(evs))
	for _, ev := range evs {
		sk, _ := ev.StateKey()
		raw, err := json.Marshal(map[string]any{"type": ev.Type(), "state_key": sk, "sender": ev.Sender(), "content": ev.Content()})
		if err != nil {
			return fedclient.InviteRequest{}, err
		}
		stripped = append(stripped, raw)
	}
	return fedclient.InviteRequest{RoomVersion: pdu.Version().ID, Event: pdu.JSON(), InviteRoomState: stripped}, nil
}
