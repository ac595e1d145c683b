package homeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"hearth/core/accounts"
	"hearth/core/clientapi/profile"
	"hearth/core/event"
	"hearth/core/fedauth"
	"hearth/core/fedclient"
	"hearth/core/fededu"
	"hearth/core/fedjoin"
	"hearth/core/fedsender"
	"hearth/core/fedserver"
	"hearth/core/keyring"
	"hearth/core/media"
	"hearth/core/room"
	"hearth/core/syncer"
	"hearth/persist"
	"hearth/transport"
)

// federation is the server-server side of a Server: the key ring, the
// signed client, the sender of outbound transactions, the joiner and the
// inbound handlers. Without Config.Transports there is no outbound
// federation: no sender and no joiner; inbound requests are still served.
type federation struct {
	client   *fedclient.Client
	ring     *keyring.Ring
	sender   *fedsender.Sender
	joiner   *fedjoin.Joiner
	handlers *fedserver.Handlers
	// serverName and log serve the hooks that have no Server at hand.
	serverName string
	log        *slog.Logger
}

// unreachable is the transport chooser of a server without outbound
// federation.
type unreachable struct{}

func (unreachable) Choose(dest string) (transport.Transport, error) {
	return nil, fmt.Errorf("%w: outbound federation is off (%s)", transport.ErrUnreachable, dest)
}

// newFederation builds the client and the key ring, which the DAG needs
// before anything else.
func (s *Server) newFederation() (*federation, error) {
	chooser := s.cfg.Transports
	if chooser == nil {
		chooser = unreachable{}
	}
	f := &federation{serverName: s.cfg.ServerName, log: s.log}
	var err error
	if f.client, err = fedclient.New(fedclient.Config{
		ServerName: s.cfg.ServerName, Key: s.cfg.SigningKey, Transports: chooser, Now: s.cfg.Now,
	}); err != nil {
		return nil, err
	}
	if f.ring, err = keyring.New(keyring.Config{
		ServerName:  s.cfg.ServerName,
		Key:         s.cfg.SigningKey,
		KeyValidity: s.cfg.KeyValidity,
		Store:       s.cfg.Store,
		Fetcher:     f.client,
		Now:         s.cfg.Now,
	}); err != nil {
		return nil, err
	}
	return f, nil
}

// outbound reports whether this server sends to other servers.
func (s *Server) outbound() bool { return s.cfg.Transports != nil && s.cfg.AfterFunc != nil }

// afterDAG builds what needs the DAG: the sender and the joiner.
func (f *federation) afterDAG(ctx context.Context, s *Server, dag *room.DAG) error {
	if !s.outbound() {
		return nil
	}
	var err error
	if f.sender, err = fedsender.New(ctx, fedsender.Config{
		ServerName: s.cfg.ServerName,
		Store:      s.cfg.Store,
		Client:     f.client,
		Rooms:      dag,
		Now:        s.cfg.Now,
		AfterFunc:  s.cfg.AfterFunc,
		Logger:     s.log,
	}); err != nil {
		return err
	}
	f.joiner, err = fedjoin.New(fedjoin.Config{
		ServerName: s.cfg.ServerName, Key: s.cfg.SigningKey, DAG: dag, Client: f.client, Now: s.cfg.Now, Rand: s.cfg.Rand,
		Invites: lazyInvites{f},
	})
	return err
}

// lazyInvites is the invite store of the inbound handlers, which are built
// after the joiner and the syncer that use it (before any request).
type lazyInvites struct{ f *federation }

func (l lazyInvites) InviteSender(ctx context.Context, userID, roomID string) (string, bool, error) {
	return l.f.handlers.InviteSender(ctx, userID, roomID)
}

func (l lazyInvites) DropInvite(ctx context.Context, userID, roomID string) error {
	return l.f.handlers.DropInvite(ctx, userID, roomID)
}

func (l lazyInvites) RejectInvite(ctx context.Context, userID, roomID string, left json.RawMessage) error {
	return l.f.handlers.RejectInvite(ctx, userID, roomID, left)
}

func (l lazyInvites) Position() uint64 {
	if l.f.handlers == nil {
		return 0
	}
	return l.f.handlers.Position()
}

func (l lazyInvites) Stream() (uint64, <-chan struct{}) {
	if l.f.handlers == nil {
		return 0, nil
	}
	return l.f.handlers.Stream()
}

func (l lazyInvites) RemoteInvites(ctx context.Context, userID string, from, to uint64) ([]syncer.RemoteInvite, error) {
	return l.f.handlers.RemoteInvites(ctx, userID, from, to)
}

// remoteInvites is the syncer's source of invites to rooms this server is
// not in.
func (f *federation) remoteInvites() syncer.RemoteInvites { return lazyInvites{f} }

// outboundEDUs returns the EDU hooks for the local services, or nil
// without outbound federation.
func (f *federation) outboundEDUs(s *Server, dag *room.DAG) *fededu.Outbound {
	if f.sender == nil {
		return nil
	}
	return fededu.NewOutbound(fededu.OutboundConfig{
		Sender:    f.sender,
		Rooms:     f.sender,
		UserRooms: dag,
		Client:    f.client,
		Logger:    s.log,
	})
}

// index is the federation part of room.Config.Index: it records local
// events for the sender inside the event's own transaction.
func (f *federation) index(tx persist.Tx, a room.Added) error {
	if f == nil || f.sender == nil {
		return nil
	}
	return f.sender.Index(tx, a)
}

// accepted is the federation part of room.Config.OnAccepted: it wakes the
// sender's fan-out of local events to the room's other servers.
func (f *federation) accepted(a room.Added) {
	if f == nil || f.sender == nil {
		return
	}
	f.sender.Accepted(a)
}

// inviteTimeout bounds the wait for an invitee's server to countersign an
// invite (the room's writes wait meanwhile).
const inviteTimeout = 20 * time.Second

// countersign is room.Config.Countersign: a local user's invite of another
// server's user goes to that server first, and is stored with its
// signature (which Dendrite requires) or, if refused, not at all.
func (f *federation) countersign(ctx context.Context, pdu *event.PDU, before room.State) (*event.PDU, error) {
	if f == nil || f.joiner == nil || pdu.Type() != "m.room.member" {
		return pdu, nil // only invites are countersigned
	}
	ctx, cancel := context.WithTimeout(ctx, inviteTimeout)
	defer cancel()
	return f.joiner.Countersign(ctx, pdu, before)
}

// newHandlers builds the inbound handlers over the client API's services.
func (f *federation) newHandlers(s *Server, c *clientAPI) error {
	cfg := fedserver.Config{
		ServerName: s.cfg.ServerName,
		Key:        s.cfg.SigningKey,
		DAG:        c.dag,
		Store:      s.cfg.Store,
		Now:        s.cfg.Now,
		EventKeys:  f.ring,
		Aliases:    c.rooms,
		Profiles:   localProfiles{s},
		Devices:    localDevices{s},
		Keys:       c.e2ee,
		Media:      c.media,
		Directory:  c.rooms,
		OnInvite:   func(user string) { c.notifier.Wake(user) },
		Logger:     s.log,
		EDUs: fededu.NewReceiver(fededu.ReceiverConfig{
			Ephemeral: c.eph,
			E2EE:      c.e2ee,
			Rooms:     c.dag,
			Logger:    s.log,
		}),
	}
	if s.outbound() {
		cfg.Client = f.client
	}
	var err error
	f.handlers, err = fedserver.New(cfg)
	return err
}

// register adds the federation routes to mux.
func (f *federation) register(mux *http.ServeMux, s *Server) {
	q := f.ring.QueryHandler()
	mux.Handle("POST /_matrix/key/v2/query", q)
	mux.Handle("GET /_matrix/key/v2/query/{serverName}", q)
	auth := fedauth.Middleware(fedauth.Config{
		ServerName: s.cfg.ServerName,
		Keys:       f.ring,
		ACL:        f.handlers.ACL,
	})
	wrap := func(h http.Handler) http.Handler {
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f.sender != nil {
				f.sender.PeerSeen(fedauth.Origin(r.Context()))
			}
			h.ServeHTTP(w, r)
		})
		return auth(inner)
	}
	f.handlers.Register(mux, wrap)
}

// close stops the sender.
func (f *federation) close() {
	if f != nil && f.sender != nil {
		f.sender.Close()
	}
}

// localProfiles answers federation profile queries from the accounts.
type localProfiles struct{ s *Server }

func (p localProfiles) LocalProfile(ctx context.Context, userID string) (string, string, bool, error) {
	prof, err := p.s.accounts.Profile(ctx, userID)
	if err != nil {
		return "", "", false, nil
	}
	return prof.DisplayName, prof.AvatarURL, true, nil
}

// localDevices lists devices for /user/devices.
type localDevices struct{ s *Server }

func (d localDevices) DeviceList(ctx context.Context, userID string) ([]fedclient.Device, error) {
	devs, err := d.s.accounts.Devices(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]fedclient.Device, len(devs))
	for i, dev := range devs {
		out[i] = fedclient.Device{DeviceID: dev.ID, DisplayName: dev.DisplayName}
	}
	return out, nil
}

// remoteFetchTimeout bounds one fetch of another server's file, reading
// its bytes included.
const remoteFetchTimeout = 2 * time.Minute

// remoteProfileTimeout bounds one profile query to another server.
const remoteProfileTimeout = 20 * time.Second

// remoteMedia is core/media's Remote over federation (GET
// /_matrix/federation/v1/media/download, server-server spec v1.11). Only
// servers with outbound federation have one.
//
// A remote server may answer with a redirect (a Location part) instead of
// the bytes. Following it would mean dialling an arbitrary URL outside the
// federation transport (its discovery, SSRF guard and TLS checks), so such
// an answer is a failure of the fetch (media.ErrRemote, 502 to clients)
// rather than a request to wherever the redirect points.
type remoteMedia struct{ client *fedclient.Client }

func (m remoteMedia) Fetch(ctx context.Context, serverName, mediaID string) (string, string, io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, remoteFetchTimeout)
	res, err := m.client.MediaDownload(ctx, serverName, mediaID, 0)
	if err != nil {
		cancel()
		if fedclient.StatusOf(err) == http.StatusNotFound {
			return "", "", nil, fmt.Errorf("%w: %s has no %s: %w", media.ErrNotFound, serverName, mediaID, err)
		}
		return "", "", nil, err
	}
	if res.Body == nil {
		res.Close()
		cancel()
		return "", "", nil, fmt.Errorf("%s answered %s with a redirect, which hearth does not follow", serverName, mediaID)
	}
	fileName := ""
	if res.ContentDisposition != "" {
		if _, params, err := mime.ParseMediaType(res.ContentDisposition); err == nil {
			fileName = params["filename"]
		}
	}
	return res.ContentType, fileName, &mediaBody{Reader: res.Body, media: res, cancel: cancel}, nil
}

// mediaBody is a remote file's bytes; closing it ends the request and its
// deadline.
type mediaBody struct {
	io.Reader
	media  *fedclient.Media
	cancel context.CancelFunc
}

func (b *mediaBody) Close() error {
	err := b.media.Close()
	b.cancel()
	return err
}

// remoteProfiles is the profile endpoints' RemoteProfiles over federation
// (GET /_matrix/federation/v1/query/profile).
type remoteProfiles struct{ client *fedclient.Client }

func (p remoteProfiles) RemoteProfile(ctx context.Context, userID, field string) (accounts.Profile, error) {
	_, server, ok := strings.Cut(userID, ":")
	if !ok || !strings.HasPrefix(userID, "@") || server == "" {
		return accounts.Profile{}, fmt.Errorf("%w: %q is not a user ID", profile.ErrNotFound, userID)
	}
	ctx, cancel := context.WithTimeout(ctx, remoteProfileTimeout)
	defer cancel()
	fields, err := p.client.QueryProfile(ctx, server, userID, field)
	if err != nil {
		if fedclient.StatusOf(err) == http.StatusNotFound {
			return accounts.Profile{}, fmt.Errorf("%w: %s: %w", profile.ErrNotFound, userID, err)
		}
		return accounts.Profile{}, err
	}
	var prof accounts.Profile
	// Values that are not strings are ignored, as an unset field.
	if raw, ok := fields["displayname"]; ok {
		json.Unmarshal(raw, &prof.DisplayName)
	}
	if raw, ok := fields["avatar_url"]; ok {
		json.Unmarshal(raw, &prof.AvatarURL)
	}
	return prof, nil
}
