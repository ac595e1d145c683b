package keyring

import (
	"context"
	"encoding/json"
	"fmt"
	"hearth/core/selfname"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"hearth/core/matrixerr"
	"hearth/core/serverkey"
	"hearth/core/signing"
)

// MaxNotaryServers is the most servers one notary query may ask about, so
// that one request cannot make this server fetch keys without bound.
const MaxNotaryServers = 100

// notaryParallel is how many servers' keys one query fetches at once.
const notaryParallel = 8

// maxNotaryBody bounds the body of POST /_matrix/key/v2/query.
const maxNotaryBody = 1 << 20

// QueryHandler serves the notary API (server-server spec, "Querying Keys
// Through Another Server"): POST /_matrix/key/v2/query and
// GET /_matrix/key/v2/query/{serverName}. For each server asked about, it
// answers with the server's own key response, fetched again when the
// cached one is not valid until the asked minimum_valid_until_ts (the
// current time by default) and served from the cache when the server is
// unreachable, with this server's signature added. Servers with nothing to
// show are left out; self-certifying servers have no key response.
func (r *Ring) QueryHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_matrix/key/v2/query", r.serveQueryBatch)
	mux.HandleFunc("GET /_matrix/key/v2/query/{serverName}", r.serveQueryOne)
	return mux
}

func (r *Ring) serveQueryOne(w http.ResponseWriter, req *http.Request) {
	serverName := req.PathValue("serverName")
	var minValid int64
	if v := req.URL.Query().Get("minimum_valid_until_ts"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, "M_INVALID_PARAM", "minimum_valid_until_ts is not an integer"))
			return
		}
		minValid = n
	}
	r.answer(w, req.Context(), map[string]int64{serverName: minValid})
}

func (r *Ring) serveQueryBatch(w http.ResponseWriter, req *http.Request) {
	var body struct {
		ServerKeys map[string]map[string]struct {
			MinimumValidUntilTS int64 `json:"minimum_valid_until_ts"`
		} `json:"server_keys"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxNotaryBody))
	if err := dec.Decode(&body); err != nil {
		matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, "M_NOT_JSON", "request body is not a JSON object of the right shape: %v", err))
		return
	}
	if body.ServerKeys == nil {
		matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, "M_MISSING_PARAM", "server_keys is required"))
		return
	}
	if len(body.ServerKeys) > MaxNotaryServers {
		matrixerr.Write(w, matrixerr.New(http.StatusBadRequest, "M_INVALID_PARAM", "at most %d servers per query", MaxNotaryServers))
		return
	}
	want := make(map[string]int64, len(body.ServerKeys))
	for name, byKey := range body.ServerKeys {
		var minValid int64
		for _, c := range byKey {
			minValid = max(minValid, c.MinimumValidUntilTS)
		}
		want[name] = minValid
	}
	r.answer(w, req.Context(), want)
}

// answer writes the notary response for the servers in want (server name
// to minimum_valid_until_ts, 0 meaning now).
func (r *Ring) answer(w http.ResponseWriter, ctx context.Context, want map[string]int64) {
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]json.RawMessage, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, notaryParallel)
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = r.notarise(ctx, name, want[name])
		}()
	}
	wg.Wait()
	keys := make([]json.RawMessage, 0, len(out))
	for _, raw := range out {
		if raw != nil {
			keys = append(keys, raw)
		}
	}
	matrixerr.WriteJSON(w, http.StatusOK, struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}{keys})
}

// notarise returns serverName's key response countersigned by this server,
// or nil when there is none to give.
func (r *Ring) notarise(ctx context.Context, serverName string, minValid int64) json.RawMessage {
	now := r.cfg.Now()
	if minValid <= 0 {
		minValid = now.UnixMilli()
	}
	if serverName == r.cfg.ServerName {
		raw, err := r.OwnKeys()
		if err != nil {
			return nil
		}
		return raw
	}
	if _, ok := selfname.Parse(serverName); ok || serverName == "" {
		return nil
	}
	// Load the store's copy, then fetch if it is too old.
	if _, _, err := r.cached(ctx, serverName, ""); err != nil {
		return nil
	}
	raw, until := r.lastResponse(serverName)
	if raw == nil || until < minValid {
		r.refresh(ctx, serverName)
		raw, _ = r.lastResponse(serverName)
	}
	if raw == nil {
		return nil
	}
	signed, err := signing.SignJSON(raw, r.cfg.ServerName, r.cfg.Key)
	if err != nil {
		return nil
	}
	return signed
}

// lastResponse returns the last verified response of serverName and its
// valid_until_ts.
func (r *Ring) lastResponse(serverName string) ([]byte, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.state(serverName)
	return s.raw, s.rawUntil
}

// OwnKeys returns this server's key response (the body of
// GET /_matrix/key/v2/server), valid for KeyValidity from now, listing the
// configured old keys.
func (r *Ring) OwnKeys() ([]byte, error) {
	until := r.cfg.Now().Add(r.cfg.KeyValidity).UnixMilli()
	raw, err := serverkey.Response(r.cfg.ServerName, r.cfg.Key, until, r.cfg.OldKeys...)
	if err != nil {
		return nil, fmt.Errorf("keyring: own keys: %w", err)
	}
	return raw, nil
}
