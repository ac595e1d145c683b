// Package fedserver serves the inbound server-server API: transactions of
// PDUs and EDUs, the event, state and history reads other servers make,
// the join, leave, knock and invite handshakes, and the queries (directory,
// profile, devices, keys, media). Every handler runs behind the fedauth
// middleware, which authenticates the origin server; room endpoints check the
// room's server ACL.
//
// # Storage layout (prefix "fedserver/")
//
//	fedserver/txn/<origin> 0x00 <txn ID>      the response to a transaction, for retries
//	fedserver/invite/<user ID> 0x00 <room ID> an invite to a room this server is not in (JSON),
//	                                          or its rejection
//	fedserver/invitepos                       the last position of the remote invite stream
package fedserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"hearth/core/e2ee"
	"hearth/core/event"
	"hearth/core/fedclient"
	"hearth/core/matrixerr"
	"hearth/core/media"
	"hearth/core/room"
	"hearth/core/roomversion"
	"hearth/core/serveracl"
	"hearth/core/signing"
	"hearth/core/streampos"
	"hearth/persist"
)

// EDUReceiver applies the EDUs of inbound transactions (core/fededu).
type EDUReceiver interface {
	Receive(ctx context.Context, origin string, edus []json.RawMessage)
}

// AliasLookup resolves this server's own room aliases
// (rooms.Handlers.ResolveLocalAlias).
type AliasLookup interface {
	ResolveLocalAlias(ctx context.Context, alias string) (roomID string, ok bool, err error)
}

// Profiles answers profile queries about local users: ok is false for
// users that do not exist.
type Profiles interface {
	LocalProfile(ctx context.Context, userID string) (displayname, avatarURL string, ok bool, err error)
}

// Devices lists a local user's devices for /user/devices.
type Devices interface {
	DeviceList(ctx context.Context, userID string) ([]fedclient.Device, error)
}

// Keys is the end-to-end key service (*e2ee.Service implements it).
type Keys interface {
	QueryKeys(ctx context.Context, requester string, users map[string][]string) (*e2ee.QueryResult, error)
	ClaimKeys(ctx context.Context, claims map[string]map[string]string) (*e2ee.ClaimResult, error)
}

// Media is the content repository (*media.Repo implements it).
type Media interface {
	Get(ctx context.Context, serverName, mediaID string, allowRemote bool) (*media.File, error)
}

// Config is what Handlers need. ServerName, Key, DAG, Store and Now are
// required; every other field is optional and leaves its endpoints answering
// 404 M_UNRECOGNIZED or empty answers when nil.
type Config struct {
	ServerName string
	// Key signs invites and restricted joins this server authorises.
	Key signing.Key
	// DAG holds the rooms.
	DAG *room.DAG
	// Store keeps transaction responses and invites under "fedserver/".
	Store persist.Store
	// Now is the clock.
	Now func() time.Time
	// Client fetches missing events from the origin of a transaction;
	// without it events with unknown ancestors are refused.
	Client *fedclient.Client
	// EventKeys, when set, checks the signatures of invites (the key
	// ring); the DAG checks those of every other event.
	EventKeys event.KeyLookup
	// EDUs receives the EDUs of transactions.
	EDUs EDUReceiver
	// Aliases resolves local aliases for directory queries.
	Aliases AliasLookup
	// Profiles answers profile queries.
	Profiles Profiles
	// Devices lists devices for /user/devices.
	Devices Devices
	// Keys answers key queries and claims.
	Keys Keys
	// Media serves federation media downloads.
	Media Media
	// Directory lists the published rooms for /publicRooms.
	Directory Directory
	// OnInvite, when set, is called after an invite for a local user to a
	// room this server is not in was stored, so that the user's sync wakes.
	OnInvite func(userID string)
	// Logger receives errors that no request reports.
	Logger *slog.Logger
}

// Handlers serves the federation endpoints. It is safe for concurrent use.
type Handlers struct {
	cfg Config
	dag *room.DAG
	log *slog.Logger
	// txnMu serialises transactions from one origin, so that a retry
	// waits for the first attempt and gets its answer.
	txnMu   sync.Mutex
	origins map[string]*originLock
	// invitePos is the stream of remote invites and their rejections.
	invitePos *streampos.Stream
}

type originLock struct {
	mu   sync.Mutex
	refs int
}

// New checks cfg and returns Handlers.
func New(cfg Config) (*Handlers, error) {
	if cfg.ServerName == "" || cfg.DAG == nil || cfg.Store == nil || cfg.Now == nil {
		return nil, errors.New("fedserver: Config needs ServerName, DAG, Store and Now")
	}
	if err := cfg.Key.Validate(); err != nil {
		return nil, fmt.Errorf("fedserver: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	last, err := loadInvitePos(context.Background(), cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("fedserver: invite stream: %w", err)
	}
	return &Handlers{cfg: cfg, dag: cfg.DAG, log: log, origins: make(map[string]*originLock), invitePos: streampos.New(last)}, nil
}

// Register adds every endpoint to mux, each wrapped by auth (the fedauth
// middleware).
func (h *Handlers) Register(mux *http.ServeMux, auth func(http.Handler) http.Handler) {
	handle := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, auth(f)) }
	const v1, v2 = "/_matrix/federation/v1", "/_matrix/federation/v2"
	handle("PUT "+v1+"/send/{txnId}", h.send)
	handle("GET "+v1+"/event/{eventId}", h.getEvent)
	handle("GET "+v1+"/state/{roomId}", h.state)
	handle("GET "+v1+"/state_ids/{roomId}", h.stateIDs)
	handle("GET "+v1+"/event_auth/{roomId}/{eventId}", h.eventAuth)
	handle("GET "+v1+"/backfill/{roomId}", h.backfill)
	handle("POST "+v1+"/get_missing_events/{roomId}", h.getMissingEvents)
	handle("GET "+v1+"/make_join/{roomId}/{userId}", h.makeJoin)
	handle("PUT "+v1+"/send_join/{roomId}/{eventId}", h.sendJoinV1)
	handle("PUT "+v2+"/send_join/{roomId}/{eventId}", h.sendJoinV2)
	handle("GET "+v1+"/make_leave/{roomId}/{userId}", h.makeLeave)
	handle("PUT "+v1+"/send_leave/{roomId}/{eventId}", h.sendLeaveV1)
	handle("PUT "+v2+"/send_leave/{roomId}/{eventId}", h.sendLeaveV2)
	handle("GET "+v1+"/make_knock/{roomId}/{userId}", h.makeKnock)
	handle("PUT "+v1+"/send_knock/{roomId}/{eventId}", h.sendKnock)
	handle("PUT "+v1+"/invite/{roomId}/{eventId}", h.inviteV1)
	handle("PUT "+v2+"/invite/{roomId}/{eventId}", h.inviteV2)
	handle("PUT "+v1+"/exchange_third_party_invite/{roomId}", h.exchangeThirdPartyInvite)
	handle("GET "+v1+"/query/directory", h.queryDirectory)
	handle("GET "+v1+"/query/profile", h.queryProfile)
	handle("GET "+v1+"/user/devices/{userId}", h.userDevices)
	handle("POST "+v1+"/user/keys/query", h.keysQuery)
	handle("POST "+v1+"/user/keys/claim", h.keysClaim)
	handle("GET "+v1+"/media/download/{mediaId}", h.mediaDownload)
	handle("GET "+v1+"/publicRooms", h.publicRoomsGet)
	handle("POST "+v1+"/publicRooms", h.publicRoomsPost)
	handle("GET "+v1+"/hierarchy/{roomId}", h.hierarchy)
}

// ACL reports whether server may take part in roomID under the room's
// m.room.server_acl; rooms this server does not have allow everyone. It is
// the fedauth.ACLFunc the wiring gives the middleware.
func (h *Handlers) ACL(ctx context.Context, server, roomID string) bool {
	s, err := h.dag.CurrentState(ctx, roomID)
	if err != nil {
		return true
	}
	id, ok := s[room.StateKeyOf("m.room.server_acl", "")]
	if !ok {
		return true
	}
	ev, err := h.dag.Event(ctx, id)
	if err != nil {
		return true
	}
	return serveracl.Allowed(ev.Content(), server)
}

// errorf is shorthand for a Matrix error.
func errorf(status int, code, format string, args ...any) error {
	return matrixerr.New(status, code, format, args...)
}

// incompatibleVersion is M_INCOMPATIBLE_ROOM_VERSION, which carries the
// room's version.
type incompatibleVersion string

func (v incompatibleVersion) Error() string {
	return "room version " + string(v) + " is not supported by the requesting server"
}

func writeErr(w http.ResponseWriter, err error) {
	var iv incompatibleVersion
	if errors.As(err, &iv) {
		matrixerr.WriteJSON(w, http.StatusBadRequest, map[string]string{
			"errcode": "M_INCOMPATIBLE_ROOM_VERSION", "error": iv.Error(), "room_version": string(iv)})
		return
	}
	var me matrixerr.Error
	if errors.As(err, &me) {
		matrixerr.Write(w, me)
		return
	}
	switch {
	case errors.Is(err, room.ErrUnknownRoom), errors.Is(err, room.ErrUnknownEvent):
		matrixerr.Write(w, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "%v", err))
	case errors.Is(err, event.ErrInvalid):
		matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, matrixerr.CodeBadJSON, "%v", err))
	case errors.Is(err, room.ErrSignature), errors.Is(err, event.ErrSignature):
		matrixerr.Write(w, matrixerr.New(http.StatusForbidden, matrixerr.CodeForbidden, "%v", err))
	default:
		matrixerr.Write(w, matrixerr.New(http.StatusInternalServerError, matrixerr.CodeUnknown, "%v", err))
	}
}

func writeJSON(w http.ResponseWriter, v any) { matrixerr.WriteJSON(w, http.StatusOK, v) }

// readBody reads a JSON object body (already bounded by the middleware).
func readBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return errorf(http.StatusBadRequest, matrixerr.CodeNotJSON, "reading body: %v", err)
	}
	if !json.Valid(b) {
		return errorf(http.StatusBadRequest, matrixerr.CodeNotJSON, "body is not JSON")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errorf(http.StatusBadRequest, matrixerr.CodeBadJSON, "body does not match the expected shape: %v", err)
	}
	return nil
}

// serverOf returns the server name part of a user, room alias or event ID.
func serverOf(id string) string {
	_, s, ok := strings.Cut(id, ":")
	if !ok {
		return ""
	}
	return s
}

// roomVersion returns the room's version, mapping an unknown room to 404.
func (h *Handlers) roomVersion(ctx context.Context, roomID string) (*roomversion.Version, error) {
	v, err := h.dag.Version(ctx, roomID)
	if errors.Is(err, room.ErrUnknownRoom) {
		return nil, errorf(http.StatusNotFound, matrixerr.CodeNotFound, "unknown room %s", roomID)
	}
	return v, err
}

// stateEvents returns the events of the room's current state.
func (h *Handlers) currentEvents(ctx context.Context, roomID string) (map[event.StateKey]*event.PDU, error) {
	s, err := h.dag.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return h.dag.StateEvents(ctx, s)
}

// serversIn returns the servers with joined members in a state, sorted, with
// this server first when it is one of them.
func (h *Handlers) serversIn(evs map[event.StateKey]*event.PDU) []string {
	var out []string
	for k, ev := range evs {
		if k.Type == "m.room.member" && ev.Membership() == "join" {
			if s := serverOf(k.StateKey); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	if i := slices.Index(out, h.cfg.ServerName); i > 0 {
		out = append([]string{h.cfg.ServerName}, slices.Delete(out, i, i+1)...)
	}
	return out
}

// Destinations returns the servers other than this one with joined members
// in the room's current state: where a local event of the room is sent.
func (h *Handlers) Destinations(ctx context.Context, roomID string) ([]string, error) {
	evs, err := h.currentEvents(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := h.serversIn(evs)
	return slices.DeleteFunc(out, func(s string) bool { return s == h.cfg.ServerName }), nil
}

// originInRoom reports whether the origin has a joined member in the room's
// current state.
func (h *Handlers) originInRoom(ctx context.Context, origin, roomID string) (bool, error) {
	evs, err := h.currentEvents(ctx, roomID)
	if err != nil {
		return false, err
	}
	return slices.Contains(h.serversIn(evs), origin), nil
}
