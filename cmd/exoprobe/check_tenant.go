package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/inspect"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/report"
)

// checkTenants are check's readers, prepared before any probe runs so that
// a configuration that cannot read fails first.
type checkTenants struct {
	readers  map[string]*tenantReader // by tenant name
	tenantOf map[string]string        // target name -> tenant name; nil: every target (--endpoints)
}

func prepareTenantReads(f *checkFlags) (*checkTenants, error) {
	readers := map[string]*tenantReader{}
	var tenantOf map[string]string
	switch {
	case f.config != "":
		cfg, err := config.Load(f.config)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		tenantOf = map[string]string{}
		for i := range cfg.Targets {
			t := &cfg.Targets[i]
			name := cfg.TenantOf(t)
			if name == "" || cfg.Tenants[name].Reads == nil {
				continue
			}
			tenantOf[t.Name] = name
			if readers[name] == nil {
				tr, err := readerFromConfig(cfg, name, 0)
				if err != nil {
					return nil, usagef("--tenant-reads: %v", err)
				}
				readers[name] = tr
			}
		}
		if len(readers) == 0 {
			return nil, usagef("--tenant-reads: no tenant of %s has tenant_reads:", f.config)
		}
	case f.endpoints != "":
		tr, err := readerFromEndpoints(f.endpoints, 0)
		if err != nil {
			return nil, usagef("--tenant-reads: %v", err)
		}
		readers[""] = tr
	default:
		return nil, usagef("--tenant-reads needs --config (tenants: with tenant_reads:) or --endpoints")
	}
	return &checkTenants{readers: readers, tenantOf: tenantOf}, nil
}

// applyTenantReads reads the tenant of each failed result and turns its
// settings into evidence. A read that fails leaves the findings as they
// were and says why; it never changes the exit status.
func applyTenantReads(ctx context.Context, ct *checkTenants, results []report.Result) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for i := range results {
		r := &results[i]
		name, ok := "", ct.tenantOf == nil
		if !ok {
			name, ok = ct.tenantOf[r.Target]
		}
		if !ok || r.AllAsExpected() {
			continue // no reads for it, or nothing to explain
		}
		tr := ct.readers[name]
		req := inspect.Request{}
		for _, a := range r.Attempts {
			req.Mailboxes = append(req.Mailboxes, a.User)
			// The sign-in log may already hold this device's earlier
			// failures (rows arrive minutes late; the daemon picks later
			// ones up by itself).
			req.SignIns = req.SignIns || (!a.OK && a.Mechanism == probe.Basic && tr.signIns)
			if a.Mechanism == probe.XOAUTH2 && a.Token != nil && a.Token.AppID != "" {
				req.Apps = append(req.Apps, a.Token.AppID)
				req.Permissions = append(req.Permissions, a.User)
			}
		}
		snap := tr.reader.Read(ctx, req)
		for j := range snap.Problems {
			snap.Problems[j].Why = scrubAll([]string{snap.Problems[j].Why}, tr.secret)[0]
		}
		if len(r.Findings) != len(r.Attempts) {
			r.Findings = diagnose.Classify(r.Attempts)
		}
		r.Findings = diagnose.ApplyTenant(r.Attempts, r.Findings, snap)
		r.Tenant = snap
	}
}

// tenantReadsNote is the one line check prints on stderr when reads were
// asked for but the tenant could not be read at all.
func tenantReadsNote(results []report.Result) string {
	var names []string
	for _, r := range results {
		if r.Tenant != nil && !inspect.ReadAnything(r.Tenant) {
			names = append(names, r.Target)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("tenant reads: nothing could be read for %s; the findings are from the servers' words alone", strings.Join(names, ", "))
}
