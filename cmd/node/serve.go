package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"hearth/core/selfname"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"hearth/core/homeserver"
	"hearth/core/media/imagecodec"
	"hearth/core/room"
	"hearth/persist/badger"
	"hearth/transport"
	"hearth/transport/https"
	"hearth/transport/selfcert"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGINT or SIGTERM.
const shutdownTimeout = 30 * time.Second

func serveCommand(ctx context.Context, args []string, e env) error {
	var c config
	fs := newFlagSet("serve", "hearth [serve] [flags]", true, e)
	addSettings(fs, &c, serveSettings...)
	if helped, err := parseFlags(fs, args, e); helped || err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	level, _ := c.logLevel()
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	return serve(ctx, &c, e, log)
}

// serve runs the node until ctx is done, then shuts it down gracefully.
func serve(ctx context.Context, c *config, e env, log *slog.Logger) error {
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	key, err := loadOrCreateSigningKey(c.Data, log)
	if err != nil {
		return err
	}
	secret := c.RegistrationSharedSecret
	if secret == "" {
		if secret, err = loadOrCreateSecret(c.Data, log); err != nil {
			return err
		}
	}
	// A self-certifying node's name is its key (and the federation port),
	// so the federation listener opens first to learn the port.
	var fedLn net.Listener
	var cert tls.Certificate
	if c.SelfCertifying {
		if fedLn, err = net.Listen("tcp", c.FederationListen); err != nil {
			return fmt.Errorf("federation listener: %w", err)
		}
		port := uint16(fedLn.Addr().(*net.TCPAddr).Port)
		c.ServerName = selfname.NameWithPort(key.Public(), port)
		key.ID = selfname.KeyID
		if cert, err = selfcert.Certificate(key.Private, c.ServerName, time.Now(), rand.Reader); err != nil {
			fedLn.Close()
			return fmt.Errorf("self-certifying certificate: %w", err)
		}
	} else if cert, err = loadTLS(c, certHosts(c.ServerName, c.FederationListen), time.Now(), log); err != nil {
		return err
	}
	transports := transport.Single{Transport: https.New(https.Options{
		AllowPrivate:       c.FederationAllowPrivate,
		InsecureSkipVerify: c.FederationTLSSkipVerify,
	})}

	store, err := badger.Open(filepath.Join(c.Data, dbDir), badger.WithLogger(log),
		badger.WithValueLog(room.EventKeyPrefix))
	if err != nil {
		return fmt.Errorf("opening database: %w", err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing database", "err", err)
		} else {
			log.Info("database closed")
		}
	}()

	hs, err := homeserver.New(homeserver.Config{
		ServerName:               c.ServerName,
		SigningKey:               key,
		Store:                    store,
		Now:                      time.Now,
		Rand:                     rand.Reader,
		Logger:                   log,
		Registration:             homeserver.Registration(c.Registration),
		RegistrationSharedSecret: secret,
		RateLimit:                c.RateLimit,
		Version:                  version,
		AfterFunc:                func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		Transports:               transports,
		ImageCodec:               imagecodec.Codec{},
	})
	if err != nil {
		return err
	}

	var pprofLn net.Listener
	if c.Pprof != "" {
		if pprofLn, err = net.Listen("tcp", c.Pprof); err != nil {
			if fedLn != nil {
				fedLn.Close()
			}
			return fmt.Errorf("pprof listener: %w", err)
		}
	}
	clientLn, err := net.Listen("tcp", c.ClientListen)
	if err != nil {
		if fedLn != nil {
			fedLn.Close()
		}
		if pprofLn != nil {
			pprofLn.Close()
		}
		return fmt.Errorf("client listener: %w", err)
	}
	if fedLn == nil {
		if fedLn, err = net.Listen("tcp", c.FederationListen); err != nil {
			clientLn.Close()
			if pprofLn != nil {
				pprofLn.Close()
			}
			return fmt.Errorf("federation listener: %w", err)
		}
	}
	clientURL := "http://" + clientLn.Addr().String()
	fedURL := "https://" + fedLn.Addr().String()

	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
	}
	clientSrv := newServer(hs.ClientHandler())
	fedSrv := newServer(hs.FederationHandler())
	fedSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	errc := make(chan error, 3)
	go func() { errc <- clientSrv.Serve(clientLn) }()
	go func() { errc <- fedSrv.ServeTLS(fedLn, "", "") }()
	if pprofLn != nil {
		pprofSrv := newServer(pprofHandler())
		go pprofSrv.Serve(pprofLn)
		defer pprofSrv.Close()
		log.Info("pprof listening", "url", "http://"+pprofLn.Addr().String()+"/debug/pprof/")
	}

	urlPath := filepath.Join(c.Data, clientURLFile)
	if err := writeFileAtomic(urlPath, []byte(clientURL+"\n"), 0o644); err != nil {
		log.Warn("cannot record the client URL for admin commands", "err", err)
	}
	defer os.Remove(urlPath)

	log.Info("started", "server_name", c.ServerName, "key_id", key.ID, "registration", c.Registration,
		"rate_limit", c.RateLimit, "version", version)
	if c.FederationAllowPrivate || c.FederationTLSSkipVerify || c.SelfCertifying {
		log.Info("federation options", "allow_private", c.FederationAllowPrivate,
			"tls_skip_verify", c.FederationTLSSkipVerify, "self_certifying", c.SelfCertifying)
	}
	fmt.Fprintf(e.stdout, "hearth listening: client %s federation %s server_name %s\n", clientURL, fedURL, c.ServerName)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx))
	case serveErr = <-errc:
		log.Error("listener failed", "err", serveErr)
	}
	hs.Close() // ends long-polling reads; writes in flight finish
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	shutdownErr := errors.Join(clientSrv.Shutdown(sctx), fedSrv.Shutdown(sctx))
	if shutdownErr != nil {
		log.Error("shutdown", "err", shutdownErr)
	} else {
		log.Info("listeners closed")
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return shutdownErr
}

// pprofHandler serves Go's runtime profiles (net/http/pprof) under
// /debug/pprof/, for the --pprof listener only.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
