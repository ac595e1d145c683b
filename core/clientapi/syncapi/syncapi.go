// Package syncapi serves the client-server API's /sync and filter endpoints
// (spec v1.12, "Syncing" and "Filtering"): GET /sync, POST
// /user/{userId}/filter and GET /user/{userId}/filter/{filterId}. The work
// is done by core/syncer; this package reads the parameters and writes the
// answers and errors.
package syncapi

import (
	"errors"
	"time"

	"hearth/core/clientapi"
	"hearth/core/syncer"
)

// DefaultMaxTimeout caps the timeout of a long-polling /sync.
const DefaultMaxTimeout = 30 * time.Second

// Config is what the handlers need.
type Config struct {
	Syncer *syncer.Syncer
	// MaxTimeout caps the timeout parameter of /sync; 0 means
	// DefaultMaxTimeout.
	MaxTimeout time.Duration
}

// Handlers serves the endpoints.
type Handlers struct {
	cfg     Config
	filters filterCache
}

// New returns the handlers for cfg.
func New(cfg Config) (*Handlers, error) {
	if cfg.Syncer == nil {
		return nil, errors.New("syncapi: Config needs a Syncer")
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = DefaultMaxTimeout
	}
	return &Handlers{cfg: cfg}, nil
}

// Register adds the endpoints to rt.
func (h *Handlers) Register(rt *clientapi.Router) {
	rt.HandleAuth("GET /sync", h.sync)
	rt.HandleAuth("POST /user/{userId}/filter", h.createFilter)
	rt.HandleAuth("GET /user/{userId}/filter/{filterId}", h.getFilter)
}
