// Package profile serves the client-server endpoints around users' global
// profiles: reading and setting display names and avatar URLs (and carrying
// a change into the m.room.member events of every room the user is joined
// to), the user directory search, and the small discovery endpoints that
// clients call at start-up (TURN servers, third-party protocols) for which a
// plain homeserver has nothing to offer.
//
// The package keeps no data of its own: profiles live in core/accounts and
// memberships in the room DAG.
package profile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/matrixerr"
	"hearth/core/mxid"
	"hearth/core/room"
)

// Profile fields as the client API names them.
const (
	FieldDisplayName = "displayname"
	FieldAvatarURL   = "avatar_url"
)

// Accounts is what the handlers need from core/accounts; *accounts.Accounts
// implements it.
type Accounts interface {
	// Profile returns a local user's profile, or an error wrapping
	// accounts.ErrUserNotFound.
	Profile(ctx context.Context, userID string) (accounts.Profile, error)
	// SetDisplayName and SetAvatarURL change one field durably ("" removes
	// it), failing with accounts.ErrProfileTooLong over the length limits.
	SetDisplayName(ctx context.Context, userID, name string) error
	SetAvatarURL(ctx context.Context, userID, url string) error
}

// ErrNotFound is what a RemoteProfiles implementation wraps when the
// user's server says it has no such user (or no such field).
var ErrNotFound = errors.New("profile: not found")

// RemoteProfiles fetches the profiles of other servers' users over
// federation.
type RemoteProfiles interface {
	// RemoteProfile returns the user's profile from their server. field
	// is "" for the whole profile, or FieldDisplayName or FieldAvatarURL
	// for one field. Errors wrapping ErrNotFound answer 404; a
	// matrixerr.Error is passed to the client as it is; any other error
	// answers 502.
	RemoteProfile(ctx context.Context, userID, field string) (accounts.Profile, error)
}

// PublicRooms lists rooms published in the room directory, so that the user
// directory can include their members as Synapse does.
type PublicRooms interface {
	// PublishedRooms returns up to limit published room IDs.
	PublishedRooms(ctx context.Context, limit int) ([]string, error)
}

// Config is what the handlers need.
type Config struct {
	// ServerName tells local users from remote ones.
	ServerName string
	// Accounts holds local users' profiles.
	Accounts Accounts
	// DAG is the room graph: profile changes are sent into the user's
	// rooms, and the user directory searches room members.
	DAG *room.DAG
	// RemoteProfiles, when set, answers profile queries for other
	// servers' users; without it they get 404.
	RemoteProfiles RemoteProfiles
	// PublicRooms, when set, adds the members of (up to
	// MaxDirectoryPublicRooms) published rooms to the user directory.
	PublicRooms PublicRooms
	// Logger receives failures no request can report, such as a room
	// into which a profile change could not be sent. Nil discards them.
	Logger *slog.Logger
}

// Handlers serves the profile, user directory and discovery endpoints.
type Handlers struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns the handlers.
func New(cfg Config) (*Handlers, error) {
	if cfg.ServerName == "" || cfg.Accounts == nil || cfg.DAG == nil {
		return nil, errors.New("profile: ServerName, Accounts and DAG are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handlers{cfg: cfg, log: log}, nil
}

// Register adds the endpoints to rt.
func (h *Handlers) Register(rt *clientapi.Router) {
	rt.Handle("GET /profile/{userId}", h.getProfile)
	rt.Handle("GET /profile/{userId}/displayname", h.getField(FieldDisplayName))
	rt.Handle("GET /profile/{userId}/avatar_url", h.getField(FieldAvatarURL))
	rt.HandleAuth("PUT /profile/{userId}/displayname", h.putField(FieldDisplayName))
	rt.HandleAuth("PUT /profile/{userId}/avatar_url", h.putField(FieldAvatarURL))
	rt.HandleAuth("POST /user_directory/search", h.searchDirectory)
	rt.HandleAuth("GET /voip/turnServer", h.turnServer)
	rt.HandleAuth("GET /thirdparty/protocols", h.thirdPartyProtocols)
	rt.HandleAuth("GET /thirdparty/protocol/{protocol}", h.thirdPartyProtocol)
}

// splitUserID returns the server name of a syntactically valid user ID.
func splitUserID(userID string) (server string, ok bool) {
	_, server, ok = mxid.Split(userID, '@')
	return server, ok
}

// lookup returns a user's profile, from the accounts for local users and
// from their server for remote ones. field narrows a remote query.
func (h *Handlers) lookup(ctx context.Context, userID, field string) (accounts.Profile, error) {
	server, ok := splitUserID(userID)
	if !ok {
		return accounts.Profile{}, matrixerr.New(http.StatusBadRequest, matrixerr.CodeInvalidParam, "%q is not a user ID", userID)
	}
	if server == h.cfg.ServerName {
		p, err := h.cfg.Accounts.Profile(ctx, userID)
		if errors.Is(err, accounts.ErrUserNotFound) {
			return p, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "no such user")
		}
		if err != nil {
			return p, fmt.Errorf("profile: reading %s: %w", userID, err)
		}
		return p, nil
	}
	if h.cfg.RemoteProfiles == nil {
		return accounts.Profile{}, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "profiles of other servers' users are not available")
	}
	p, err := h.cfg.RemoteProfiles.RemoteProfile(ctx, userID, field)
	var merr matrixerr.Error
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, ErrNotFound):
		return p, matrixerr.New(http.StatusNotFound, matrixerr.CodeNotFound, "no such user")
	case errors.As(err, &merr):
		return p, merr
	default:
		return p, matrixerr.New(http.StatusBadGateway, matrixerr.CodeUnknown, "fetching the profile from %s failed", server)
	}
}
