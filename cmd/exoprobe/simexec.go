package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/sim"
	"github.com/exoprobe/exoprobe/sim/cmdlet"
)

// simExec is `exoprobe sim exec`: it sends cmdlet lines to a running
// emulator's admin endpoint and prints what PowerShell would print. The
// `sim` subcommand dispatches here.
func simExec(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("exoprobe sim exec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoints := fs.String("endpoints", filepath.Join(defaultSimDataDir(), sim.EndpointsFile), "the running emulator's endpoints.json")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the emulator")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: exoprobe sim exec [--endpoints DIR/endpoints.json] 'CMDLET LINE' ['CMDLET LINE'...]")
		fmt.Fprintln(stderr, "example: exoprobe sim exec 'Set-TransportConfig -SmtpClientAuthenticationDisabled $True'")
		fmt.Fprintln(stderr, "Lines run in order; the first error stops the rest. Quote each line for your shell (single quotes keep $True intact).")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return parseExit(err)
	}
	lines := fs.Args()
	if len(lines) == 0 {
		fmt.Fprintln(stderr, "exoprobe sim exec: no cmdlet line given")
		fs.Usage()
		return exitUsage
	}
	adminURL, token, err := readAdminEndpoint(*endpoints)
	if err != nil {
		fmt.Fprintf(stderr, "exoprobe sim exec: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := postLines(ctx, adminURL, token, lines)
	if err != nil {
		fmt.Fprintf(stderr, "exoprobe sim exec: %v\n", err)
		return exitFail
	}
	for i, r := range resp.Results {
		io.WriteString(stdout, r.Output)
		if r.Error != "" {
			fmt.Fprintf(stderr, "%s\n", r.Error)
			if i < len(lines) && shellAteVariable(lines[i], r.Error) {
				fmt.Fprintf(stderr, "exoprobe sim exec: hint: the emulator got %q. If you typed $True, $False or $null inside double quotes, your shell replaced it with nothing: quote the line with single quotes, e.g. exoprobe sim exec 'Set-TransportConfig -SmtpClientAuthenticationDisabled $True'\n", lines[i])
			}
			if len(lines) > 1 {
				fmt.Fprintf(stderr, "exoprobe sim exec: stopped at: %s\n", r.Line)
			}
			return exitFail
		}
	}
	if len(resp.Results) != len(lines) {
		fmt.Fprintf(stderr, "exoprobe sim exec: the emulator answered %d of %d lines\n", len(resp.Results), len(lines))
		return exitFail
	}
	return exitOK
}

// shellAteVariable tells whether a "missing an argument" error most likely
// comes from a POSIX shell expanding $True (an unset variable) to nothing
// inside double quotes: the line has no "$" left, and a gap or a dangling
// colon where the value was.
func shellAteVariable(line, errText string) bool {
	if !strings.Contains(strings.ToLower(errText), "missing an argument") || strings.Contains(line, "$") {
		return false
	}
	return strings.HasSuffix(line, " ") || strings.HasSuffix(line, ":") ||
		strings.Contains(line, "  ") || strings.Contains(line, ": ")
}

// readAdminEndpoint reads admin_url and the admin token from endpoints.json.
// A relative admin_token_file is taken relative to endpoints.json.
func readAdminEndpoint(path string) (url, token string, err error) {
	ep, err := sim.ReadEndpoints(path)
	if err != nil {
		return "", "", fmt.Errorf("read endpoints: %w (start the emulator with `exoprobe sim`, or pass --endpoints DIR/endpoints.json)", err)
	}
	if ep.AdminURL == "" || ep.AdminTokenFile == "" {
		return "", "", fmt.Errorf("read endpoints %s: admin_url or admin_token_file missing", path)
	}
	if !filepath.IsAbs(ep.AdminTokenFile) {
		ep.AdminTokenFile = filepath.Join(filepath.Dir(path), ep.AdminTokenFile)
	}
	token, err = ep.AdminToken()
	if err != nil {
		return "", "", err
	}
	if token == "" {
		return "", "", fmt.Errorf("read admin token: %s is empty", ep.AdminTokenFile)
	}
	return strings.TrimRight(ep.AdminURL, "/"), token, nil
}

func postLines(ctx context.Context, adminURL, token string, lines []string) (*cmdlet.ExecResponse, error) {
	body, err := json.Marshal(cmdlet.ExecRequest{Lines: lines})
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, adminURL+"/exec", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("admin request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w (is the emulator running?)", adminURL, err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: read reply: %w", adminURL, err)
	}
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("admin endpoint %s refused the admin token (401): is endpoints.json from the emulator now running?", adminURL)
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("admin endpoint %s: %s: %s", adminURL, res.Status, strings.TrimSpace(string(rb)))
	}
	var out cmdlet.ExecResponse
	if err := json.Unmarshal(rb, &out); err != nil {
		return nil, fmt.Errorf("admin endpoint %s: decode reply: %w", adminURL, err)
	}
	return &out, nil
}
