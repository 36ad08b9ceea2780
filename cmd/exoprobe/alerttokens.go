package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/probe/token"
)

// alertTokens lets an email sink name an app of oauth_apps (`oauth: NAME`)
// and send through Exchange Online with XOAUTH2: the sink gets the app's
// client-credentials token source, cached and renewed like the probes'.
// An unknown name is a configuration error; a secret that cannot be read
// yet is not (the send fails and says why, as a probe would).
func alertTokens(cfg *config.Config) alerts.TokenSources {
	reg := &token.Registry{}
	return func(name string) (probe.TokenSource, error) {
		app, ok := cfg.OAuthApps[name]
		if !ok {
			return nil, fmt.Errorf("unknown oauth app (define it under oauth_apps:)")
		}
		if app.RefreshTokenFile != "" {
			return nil, fmt.Errorf("the app uses a delegated refresh token; an alert sink needs an app-only (client credentials) app with SMTP.SendAsApp")
		}
		var hc *http.Client
		if app.CAFile != "" {
			pool, err := loadCA(app.CAFile)
			if err != nil {
				return nil, fmt.Errorf("oauth ca_file: %w", err)
			}
			hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		}
		mk := func() (probe.TokenSource, error) { return tokenSource(reg, &app, nil, hc) }
		src, err := mk()
		if err != nil {
			return &retryingToken{mk: mk}, nil
		}
		return src, nil
	}
}

// checkAlertApps reports an email sink whose `oauth:` names no app of
// oauth_apps (the alerts section cannot see that list on its own).
func checkAlertApps(cfg *config.Config, ac *alerts.Config) error {
	for _, s := range ac.Sinks {
		if s.OAuth == "" {
			continue
		}
		app, ok := cfg.OAuthApps[s.OAuth]
		if !ok {
			return fmt.Errorf("alerts: sink %q (line %d): unknown oauth app %q (define it under oauth_apps:)", s.Name, s.Line, s.OAuth)
		}
		if app.RefreshTokenFile != "" {
			return fmt.Errorf("alerts: sink %q (line %d): oauth app %q uses a delegated refresh token; an alert sink needs an app-only (client credentials) app with SMTP.SendAsApp", s.Name, s.Line, s.OAuth)
		}
	}
	return nil
}
