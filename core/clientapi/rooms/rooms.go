// Package rooms serves the client-server API's room endpoints (spec v1.12):
// creating rooms, membership (join, invite, leave, forget, kick, ban, unban,
// knock), sending messages and state, reading state, members and history
// (/messages, /context, /event), redactions, room upgrades, relations and
// threads, space hierarchies, room aliases and the published room
// directory.
//
// Events are built, authorised and stored by the room DAG (core/room);
// this package turns requests into events and events into client form
// (core/clientevent), enforcing history visibility (core/visibility) on
// everything it reads back. Its own data lives in the persist store under
// the prefix "rooms/":
//
//	rooms/alias/<alias>                              -> aliasRecord (JSON)
//	rooms/ralias/<room ID> 0x00 <alias>              -> "" (the room's local aliases)
//	rooms/pub/<room ID>                              -> "" (published in the room directory)
//	rooms/pubcount                                   -> number of published rooms (8 bytes BE)
//	rooms/forgot/<user ID> 0x00 <room ID>            -> membership position when forgotten (8 bytes BE)
//	rooms/rel/<parent ID> 0x00 <pos:8 BE>            -> relation (JSON): a child event of parent
//	rooms/thread/<room ID> 0x00 <root ID>            -> thread record (JSON): latest event and position, reply count
//	rooms/tact/<room ID> 0x00 <pos:8 BE>             -> root ID (threads by latest activity)
//	rooms/tpart/<room ID> 0x00 <root ID> 0x00 <user> -> "" (users who took part in a thread)
//
// Transaction IDs are kept by core/txn under its own prefix.
package rooms

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"hearth/core/clientapi"
	"hearth/core/room"
	"hearth/core/signing"
	"hearth/core/txn"
	"hearth/persist"
)

// Profiles looks up users' global profiles, which join and invite events
// carry as displayname and avatar_url. Implementations return empty strings
// and a nil error for users without a profile (and for users of other
// servers they know nothing about); an error is logged and the event is
// sent without a profile.
type Profiles interface {
	Profile(ctx context.Context, userID string) (displayname, avatarURL string, err error)
}

// RemoteJoiner joins local users to rooms this server is not in, over
// federation. It gets a room ID, or an alias of another server when no
// AliasResolver is configured to resolve it first, with the via servers
// (those the alias resolved to included) and the join body. JoinRemote
// returns the joined room's ID once the room is in the DAG. Errors that are
// matrixerr.Error values reach the client as they are.
type RemoteJoiner interface {
	JoinRemote(ctx context.Context, roomIDOrAlias string, serverNames []string, userID string, content json.RawMessage) (roomID string, err error)
}

// AliasResolver resolves room aliases of other servers (federation's
// directory query). It returns an error wrapping ErrUnknownAlias when the
// alias does not exist.
type AliasResolver interface {
	ResolveAlias(ctx context.Context, alias string) (roomID string, servers []string, err error)
}

// ErrUnknownAlias is what an AliasResolver returns for an alias that does
// not exist.
var ErrUnknownAlias = errors.New("rooms: unknown room alias")

// Config is what Handlers need.
type Config struct {
	// DAG holds the rooms.
	DAG *room.DAG
	// Store holds this package's own keys (see the package comment). It
	// must be DAG's store: Index and transactional sends write with the
	// transaction that stores the event.
	Store persist.Store
	// ServerName is this server's name: room aliases created here end
	// with it.
	ServerName string
	// Now returns the current time, for event ages.
	Now func() time.Time
	// Rand supplies randomness for the dry run of room creation (event IDs
	// of room versions 1 and 2).
	Rand io.Reader
	// Profiles fills displayname and avatar_url into member events; nil
	// sends member events without them.
	Profiles Profiles
	// RemoteJoiner joins rooms this server does not have; nil answers
	// such joins with 404 M_NOT_FOUND.
	RemoteJoiner RemoteJoiner
	// RemoteAliases resolves aliases of other servers; nil answers them
	// with 404 M_NOT_FOUND.
	RemoteAliases AliasResolver
	// Txns keeps transaction IDs; nil makes a txn.Store over Store. Share
	// one with sync so that both show the same transaction_id.
	Txns *txn.Store
	// Logger receives errors that no request can report, such as a failed
	// profile lookup; nil discards them.
	Logger *slog.Logger
}

// Handlers serves the room endpoints. It is safe for concurrent use.
type Handlers struct {
	cfg  Config
	dag  *room.DAG
	txns *txn.Store
	log  *slog.Logger
	// scratch signs the throwaway events of a room creation's dry run;
	// they are never stored or sent.
	scratch signing.Key
	// aliasMu serialises alias creation, so that two requests cannot both
	// find an alias free and take it.
	aliasMu sync.Mutex
	// counts caches the joined member counts of room summaries.
	countMu sync.Mutex
	counts  map[string]cachedCount
}

// New checks cfg and returns Handlers.
func New(cfg Config) (*Handlers, error) {
	if cfg.DAG == nil || cfg.Store == nil || cfg.Now == nil || cfg.Rand == nil || cfg.ServerName == "" {
		return nil, errors.New("rooms: Config needs DAG, Store, Now, Rand and ServerName")
	}
	scratch, err := signing.KeyFromSeed("ed25519:dryrun", make([]byte, ed25519.SeedSize))
	if err != nil {
		return nil, err
	}
	h := &Handlers{cfg: cfg, dag: cfg.DAG, txns: cfg.Txns, log: cfg.Logger, scratch: scratch,
		counts: make(map[string]cachedCount)}
	if h.txns == nil {
		h.txns = NewTxns(cfg.Store, cfg.DAG)
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// NewTxns returns the transaction store of the room endpoints over store:
// the sends keep their transactions with their events in dag
// (room.Proto.Transaction), where the store finds them.
func NewTxns(store persist.Store, dag *room.DAG) *txn.Store {
	return txn.New(store, txnEvents{dag})
}

// txnEvents is txn.Events over the room DAG.
type txnEvents struct{ dag *room.DAG }

func (e txnEvents) EventTransaction(ctx context.Context, eventID string) (txn.Record, bool, error) {
	t, ok, err := e.dag.Transaction(ctx, eventID)
	if errors.Is(err, room.ErrUnknownEvent) {
		return txn.Record{}, false, nil
	}
	return txn.Record{UserID: t.UserID, DeviceID: t.DeviceID, TxnID: t.TxnID}, ok, err
}

// Txns returns the transaction store, for sync's transaction_id.
func (h *Handlers) Txns() *txn.Store { return h.txns }

// Register adds the room endpoints to rt.
func (h *Handlers) Register(rt *clientapi.Router) {
	// Creation, membership.
	rt.HandleAuth("POST /createRoom", noGuests(h.createRoom))
	rt.HandleAuth("POST /join/{roomIdOrAlias}", h.joinByIDOrAlias)
	rt.HandleAuth("POST /rooms/{roomId}/join", h.joinByID)
	rt.HandleAuth("POST /rooms/{roomId}/leave", h.leave)
	rt.HandleAuth("POST /rooms/{roomId}/forget", h.forget)
	rt.HandleAuth("POST /rooms/{roomId}/invite", noGuests(h.invite))
	rt.HandleAuth("POST /rooms/{roomId}/kick", noGuests(h.kick))
	rt.HandleAuth("POST /rooms/{roomId}/ban", noGuests(h.ban))
	rt.HandleAuth("POST /rooms/{roomId}/unban", noGuests(h.unban))
	rt.HandleAuth("POST /knock/{roomIdOrAlias}", noGuests(h.knock))
	rt.HandleAuth("POST /rooms/{roomId}/knock", noGuests(h.knockByID))
	rt.HandleAuth("GET /joined_rooms", h.joinedRooms)

	// Sending.
	rt.HandleAuth("PUT /rooms/{roomId}/send/{eventType}/{txnId}", h.send)
	rt.HandleAuth("PUT /rooms/{roomId}/state/{eventType}", h.putState)
	rt.HandleAuth("PUT /rooms/{roomId}/state/{eventType}/{stateKey...}", h.putState)
	rt.HandleAuth("PUT /rooms/{roomId}/redact/{eventId}/{txnId}", noGuests(h.redact))
	rt.HandleAuth("POST /rooms/{roomId}/upgrade", noGuests(h.upgrade))

	// Reading.
	rt.HandleAuth("GET /rooms/{roomId}/state", h.getStateAll)
	rt.HandleAuth("GET /rooms/{roomId}/state/{eventType}", h.getState)
	rt.HandleAuth("GET /rooms/{roomId}/state/{eventType}/{stateKey...}", h.getState)
	rt.HandleAuth("GET /rooms/{roomId}/members", h.members)
	rt.HandleAuth("GET /rooms/{roomId}/joined_members", h.joinedMembers)
	rt.HandleAuth("GET /rooms/{roomId}/messages", h.messages)
	rt.HandleAuth("GET /rooms/{roomId}/event/{eventId}", h.getEvent)
	rt.HandleAuth("GET /rooms/{roomId}/context/{eventId}", h.context)
	rt.HandleV1Auth("GET /rooms/{roomId}/relations/{eventId}", h.relations)
	rt.HandleV1Auth("GET /rooms/{roomId}/relations/{eventId}/{relType}", h.relations)
	rt.HandleV1Auth("GET /rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", h.relations)
	rt.HandleV1Auth("GET /rooms/{roomId}/threads", h.threads)
	rt.HandleV1Auth("GET /rooms/{roomId}/hierarchy", h.hierarchy)

	// Aliases and the room directory.
	rt.Handle("GET /directory/room/{roomAlias}", h.getAlias)
	rt.HandleAuth("PUT /directory/room/{roomAlias}", noGuests(h.putAlias))
	rt.HandleAuth("DELETE /directory/room/{roomAlias}", noGuests(h.deleteAlias))
	rt.HandleAuth("GET /rooms/{roomId}/aliases", h.roomAliases)
	rt.Handle("GET /directory/list/room/{roomId}", h.getDirectoryVisibility)
	rt.HandleAuth("PUT /directory/list/room/{roomId}", noGuests(h.putDirectoryVisibility))
	rt.Handle("GET /publicRooms", h.publicRoomsGet)
	rt.HandleAuth("POST /publicRooms", h.publicRoomsPost)
}

// handler is the shape of an authenticated endpoint.
type handler = func(w http.ResponseWriter, r *http.Request, c clientapi.Caller)

// noGuests refuses guest accounts, for the endpoints that the spec's
// guest access module does not list.
func noGuests(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c clientapi.Caller) {
		if c.IsGuest {
			clientapi.WriteError(w, errGuest())
			return
		}
		h(w, r, c)
	}
}
