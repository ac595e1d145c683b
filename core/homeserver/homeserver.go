// Package homeserver is the top of hearth's core: it wires the protocol
// packages, the accounts and the store into the two HTTP handlers a Matrix
// homeserver serves, one for clients and one for other servers.
//
// The package opens no listeners or files and reads neither the clock nor a
// random source of its own: the embedding program (the native node, the
// browser module, a test) passes them in through [Config]. It builds for
// GOOS=js GOARCH=wasm.
package homeserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"hearth/core/accounts"
	"hearth/core/media"
	"hearth/core/signing"
	"hearth/persist"
	"hearth/transport"
)

// Registration says who may create an account through the client API.
type Registration string

// Registration modes.
const (
	// RegistrationOpen lets anyone register.
	RegistrationOpen Registration = "open"
	// RegistrationToken requires a registration token (the default).
	RegistrationToken Registration = "token"
	// RegistrationDisabled allows no client registration; administrators
	// still create users through the admin API.
	RegistrationDisabled Registration = "disabled"
)

// ParseRegistration returns the Registration named s.
func ParseRegistration(s string) (Registration, error) {
	switch r := Registration(s); r {
	case RegistrationOpen, RegistrationToken, RegistrationDisabled:
		return r, nil
	}
	return "", fmt.Errorf("registration mode %q is not open, token or disabled", s)
}

// Defaults for the optional Config fields.
const (
	DefaultKeyValidity = 24 * time.Hour
	DefaultNonceTTL    = time.Minute
)

// Config configures a Server. ServerName, SigningKey, Store, Now and Rand are
// required.
type Config struct {
	// ServerName is the homeserver's name: the domain part of its user IDs
	// and room aliases, optionally with a port.
	ServerName string
	// SigningKey signs the server's key response and, later, its events.
	SigningKey signing.Key
	// Store persists the server's state.
	Store persist.Store
	// Now returns the current time.
	Now func() time.Time
	// Rand is the server's source of randomness.
	Rand io.Reader
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger

	// Registration controls client registration; empty means RegistrationToken.
	Registration Registration
	// RegistrationSharedSecret enables Synapse-style shared-secret
	// registration and authenticates the admin API. Empty disables both.
	RegistrationSharedSecret string
	// RateLimit is how many client API requests per second each client
	// (network address) may make on average, with bursts of twice that;
	// zero turns limiting off.
	RateLimit float64
	// BcryptCost is the password hashing cost; zero means the default of
	// core/accounts.
	BcryptCost int
	// KeyValidity is how long other servers may cache the signing key
	// (valid_until_ts); zero means DefaultKeyValidity.
	KeyValidity time.Duration
	// NonceTTL is how long a shared-secret registration nonce stays
	// usable; zero means DefaultNonceTTL.
	NonceTTL time.Duration
	// Version is the software version reported to other servers.
	Version string
	// PublicBaseURL is the client API's public base URL, served by
	// /.well-known/matrix/client and in login responses; empty serves no
	// discovery information.
	PublicBaseURL string
	// MaxUploadSize bounds media uploads in bytes; zero means the media
	// repository's default (50 MiB).
	MaxUploadSize int64
	// ImageCodec decodes and encodes images for media thumbnails
	// (core/media/imagecodec natively); nil scales no images and answers
	// thumbnail requests for them with the images themselves, which
	// keeps image decoders out of builds that must stay small.
	ImageCodec media.Codec
	// AfterFunc, when set, runs f after d (time.AfterFunc natively), so
	// that expiring typing notifications wake syncs at once (without it
	// expiry is noticed at the next read), and so that a device's syncs can
	// be paced (syncer.Config.Pace; without it they are not).
	AfterFunc func(d time.Duration, f func())
	// Transports picks how other servers are reached; nil means no
	// outbound federation (inbound requests are still served). Outbound
	// federation also needs AfterFunc, which schedules retries.
	Transports transport.Chooser
}

// Server is a homeserver. Its handlers are safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	accounts *accounts.Accounts
	client   *clientAPI
	fed      *federation
	// closing ends when Close is called; it bounds long-polling reads.
	closing context.Context
	close   context.CancelFunc
	nonces  *nonceStore
	limiter *limiter
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.ServerName == "":
		return nil, errors.New("homeserver: no server name")
	case cfg.Store == nil:
		return nil, errors.New("homeserver: no store")
	case cfg.Now == nil:
		return nil, errors.New("homeserver: no clock (Now)")
	case cfg.Rand == nil:
		return nil, errors.New("homeserver: no random source (Rand)")
	case cfg.RateLimit < 0:
		return nil, errors.New("homeserver: negative rate limit")
	}
	if err := cfg.SigningKey.Validate(); err != nil {
		return nil, fmt.Errorf("homeserver: %w", err)
	}
	if cfg.Registration == "" {
		cfg.Registration = RegistrationToken
	}
	if _, err := ParseRegistration(string(cfg.Registration)); err != nil {
		return nil, fmt.Errorf("homeserver: %w", err)
	}
	if cfg.KeyValidity == 0 {
		cfg.KeyValidity = DefaultKeyValidity
	}
	if cfg.NonceTTL == 0 {
		cfg.NonceTTL = DefaultNonceTTL
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:    cfg,
		log:    log,
		nonces: newNonceStore(cfg.NonceTTL),
	}
	s.closing, s.close = context.WithCancel(context.Background())
	// The account hooks reach the client API's services, which are built
	// next; no hook can run before New returns.
	acc, err := accounts.New(accounts.Config{
		ServerName: cfg.ServerName,
		Store:      cfg.Store,
		Now:        cfg.Now,
		Rand:       cfg.Rand,
		BcryptCost: cfg.BcryptCost,
		OnDeviceDeleted: func(ctx context.Context, userID, deviceID string) {
			s.client.onDeviceDeleted(ctx, userID, deviceID)
		},
		OnDeactivated: func(ctx context.Context, userID string) {
			s.client.onDeactivated(ctx, userID)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("homeserver: %w", err)
	}
	s.accounts = acc
	if s.fed, err = s.newFederation(); err != nil {
		return nil, fmt.Errorf("homeserver: %w", err)
	}
	if s.client, err = s.newClientAPI(context.Background()); err != nil {
		return nil, fmt.Errorf("homeserver: %w", err)
	}
	if err := s.fed.newHandlers(s, s.client); err != nil {
		return nil, fmt.Errorf("homeserver: %w", err)
	}
	if cfg.RateLimit > 0 {
		s.limiter = newLimiter(cfg.RateLimit, 2*cfg.RateLimit)
	}
	return s, nil
}

// Close stops the server's background work and ends the reads still in
// flight, such as long-polling syncs, so that a graceful shutdown need not
// wait for their timeouts. Writes in flight are left to finish. The store
// stays open: it belongs to the caller.
func (s *Server) Close() {
	s.close()
	s.fed.close()
	s.client.close()
}

// endReadsOnClose gives GET requests a context that ends when Close is
// called.
func (s *Server) endReadsOnClose(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.closing, cancel)
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ServerName returns the server's name.
func (s *Server) ServerName() string { return s.cfg.ServerName }

// Accounts returns the server's user and registration token store.
func (s *Server) Accounts() *accounts.Accounts { return s.accounts }

// ClientHandler returns the handler for the client listener: the client-server
// API (/_matrix/client/...), media (/_matrix/media/...), the admin API
// (/_synapse/admin/...) and /health. Every response carries the CORS headers
// the specification asks for, and OPTIONS requests are answered for any path.
func (s *Server) ClientHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /_matrix/client/versions", s.clientVersions)
	mux.HandleFunc("GET /_matrix/client/v1/register/m.login.registration_token/validity", s.tokenValidity)
	mux.HandleFunc("GET /_synapse/admin/v1/register", s.registerNonce)
	mux.HandleFunc("POST /_synapse/admin/v1/register", s.sharedSecretRegister)
	mux.HandleFunc("GET /_synapse/admin/v1/registration_tokens", s.requireAdmin(s.listTokens))
	mux.HandleFunc("POST /_synapse/admin/v1/registration_tokens/new", s.requireAdmin(s.newToken))
	mux.HandleFunc("GET /_synapse/admin/v1/registration_tokens/{token}", s.requireAdmin(s.getToken))
	mux.HandleFunc("DELETE /_synapse/admin/v1/registration_tokens/{token}", s.requireAdmin(s.deleteToken))
	s.client.register(mux, s.accounts)
	var h http.Handler = s.endReadsOnClose(matrixMux{mux})
	if s.limiter != nil {
		h = s.rateLimit(h)
	}
	return s.logRequests("client", cors(h))
}

// FederationHandler returns the handler for the federation listener: the
// server-server API (/_matrix/federation/...), the key API (/_matrix/key/...)
// and /health.
func (s *Server) FederationHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /_matrix/key/v2/server", s.serverKeys)
	mux.HandleFunc("GET /_matrix/federation/v1/version", s.federationVersion)
	s.fed.register(mux, s)
	return s.logRequests("federation", matrixMux{mux})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "OK")
}
