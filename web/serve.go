package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	toolkit "github.com/prometheus/exporter-toolkit/web"
)

// ShutdownTimeout bounds how long Serve waits for requests in progress
// when its context ends.
const ShutdownTimeout = 5 * time.Second

// Serve serves h on ln until ctx is done, then shuts down gracefully and
// returns nil. webConfigFile is a Prometheus exporter-toolkit web config
// (TLS, basic_auth_users with bcrypt hashes, headers, rate limit); "" means
// plain HTTP without auth. It returns early with an error when the web
// config is invalid or the server fails.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, webConfigFile string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	if webConfigFile != "" {
		if err := toolkit.Validate(webConfigFile); err != nil {
			ln.Close()
			return fmt.Errorf("web: config %s: %w", webConfigFile, err)
		}
	}
	srv := NewServer(h, logger)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	errc := make(chan error, 1)
	go func() { errc <- ServeServer(srv, ln, webConfigFile, logger) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", serr)
	}
	return err
}

// ServeServer runs srv on ln with the web config, for a caller that owns
// the server's lifecycle (it calls srv.Shutdown; ServeServer then returns
// http.ErrServerClosed, as http.Server.Serve does). The config's
// basic_auth_users are enforced here, in front of srv's handler, on every
// path but the health checks (/healthz, /readyz); exporter-toolkit does
// TLS, headers and rate limiting.
func ServeServer(srv *http.Server, ln net.Listener, webConfigFile string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	if webConfigFile != "" {
		if err := toolkit.Validate(webConfigFile); err != nil {
			ln.Close()
			return fmt.Errorf("web: config %s: %w", webConfigFile, err)
		}
	}
	tkConfig, cleanup, err := toolkitConfig(webConfigFile)
	if err != nil {
		ln.Close()
		return err
	}
	defer cleanup()
	if tkConfig != webConfigFile {
		next := srv.Handler
		if next == nil {
			next = http.DefaultServeMux
		}
		srv.Handler = &basicAuth{path: webConfigFile, next: next, log: logger}
	}
	systemd := false
	addrs := []string{ln.Addr().String()}
	return toolkit.Serve(ln, srv, &toolkit.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd,
		WebConfigFile: &tkConfig}, logger)
}

// ListenAndServe listens on addr (host:port) and calls Serve.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, webConfigFile string, logger *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("web: listen: %w", err)
	}
	return Serve(ctx, ln, h, webConfigFile, logger)
}

// ValidateConfig checks a web config file (for --check-config).
func ValidateConfig(webConfigFile string) error {
	if webConfigFile == "" {
		return nil
	}
	if err := toolkit.Validate(webConfigFile); err != nil {
		return fmt.Errorf("web: config %s: %w", webConfigFile, err)
	}
	return nil
}
