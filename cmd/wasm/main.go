//go:build js && wasm

// Command wasm is hearth's in-browser homeserver: the same core as the native
// node, over an in-memory store, answering requests that the page hands to
// the JavaScript function hearthFetch.
//
// In the page, after wasm_exec.js has run this module:
//
//	const res = await hearthFetch("GET", "/_matrix/client/versions", "");
//	// res.status (number), res.headers (object), res.body (string)
//
// Requests under /_matrix/federation/ and /_matrix/key/ go to the federation
// handler, all others to the client handler. The module sets
// globalThis.hearthReady to true and calls globalThis.onHearthReady, if it is
// a function, once hearthFetch exists.
package main

import (
	"crypto/rand"
	"log/slog"
	"os"
	"syscall/js"
	"time"

	"hearth/core/homeserver"
	"hearth/core/signing"
	"hearth/persist/memory"
)

// defaultServerName names the browser's server unless the page sets
// globalThis.hearthServerName before running the module.
const defaultServerName = "localhost"

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	hs, err := newServer(js.Global(), log)
	if err != nil {
		log.Error("hearth failed to start", "err", err)
		js.Global().Set("hearthError", err.Error())
		return
	}
	fetch := exportFetch(js.Global(), hs)
	defer fetch.Release()
	js.Global().Set("hearthReady", true)
	if ready := js.Global().Get("onHearthReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	log.Info("hearth ready", "server_name", hs.ServerName())
	select {}
}

// newServer boots a homeserver over an in-memory store with a fresh key.
func newServer(global js.Value, log *slog.Logger) (*homeserver.Server, error) {
	serverName := defaultServerName
	if v := global.Get("hearthServerName"); v.Type() == js.TypeString && v.String() != "" {
		serverName = v.String()
	}
	key, err := signing.GenerateKey(rand.Reader, signing.Algorithm+":browser")
	if err != nil {
		return nil, err
	}
	return homeserver.New(homeserver.Config{
		ServerName: serverName,
		SigningKey: key,
		Store:      memory.New(),
		Now:        time.Now,
		Rand:       rand.Reader,
		Logger:     log,
	})
}
