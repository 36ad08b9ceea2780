package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Load reads a state file written by Save and validates it.
func Load(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tenant: load: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s State
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("tenant: load %s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("tenant: load %s: %w", path, err)
	}
	return &s, nil
}

// Save writes the state as JSON, atomically (temp file, fsync, rename) and
// readable by the owner only: it holds passwords and keys.
func (t *Tenant) Save(path string) error {
	var b []byte
	var err error
	t.View(func(s *State) { b, err = json.MarshalIndent(s, "", "  ") })
	if err != nil {
		return fmt.Errorf("tenant: save: %w", err)
	}
	return writeAtomic(path, append(b, '\n'))
}

func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("tenant: save: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("tenant: save: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("tenant: save: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tenant: save: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tenant: save: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tenant: save: %w", err)
	}
	return nil
}

// Validate checks the invariants the decisions rely on. Errors name the
// offending entry but never a secret.
func (s *State) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !isGUID(s.ID) {
		bad("id %q is not a GUID", s.ID)
	}
	if s.Name == "" {
		bad("name is empty")
	}
	if len(s.Domains) == 0 {
		bad("no domains")
	}
	switch s.Era {
	case Era2023, Era2026, "":
	default:
		bad("era %q unknown (want %s or %s)", s.Era, Era2023, Era2026)
	}
	if s.PropagationDelay < 0 {
		bad("propagation_delay is negative")
	}
	seen := map[string]bool{}
	for i, p := range s.Policies {
		switch k := strings.ToLower(p.Name); {
		case p.Name == "":
			bad("policies[%d]: empty name", i)
		case seen[k]:
			bad("policies[%d]: duplicate name %q", i, p.Name)
		default:
			seen[k] = true
		}
		if n := len(p.History); n > 0 && p.History[n-1].AllowBasic != p.AllowBasic {
			bad("policy %q: last history entry differs from its current value", p.Name)
		}
	}
	policyOK := func(name string) bool { return name == "" || s.FindPolicy(name) != nil }
	if !policyOK(s.DefaultAuthenticationPolicy) {
		bad("default_authentication_policy %q: no such policy", s.DefaultAuthenticationPolicy)
	}
	seen = map[string]bool{}
	for i, u := range s.Users {
		k := strings.ToLower(u.UPN)
		local, domain, ok := strings.Cut(u.UPN, "@")
		switch {
		case !ok || local == "":
			bad("users[%d]: upn %q is not an address", i, u.UPN)
		case !s.HasDomain(domain):
			bad("user %q: domain %q is not one of the tenant's domains", u.UPN, domain)
		case seen[k]:
			bad("user %q: duplicate", u.UPN)
		}
		seen[k] = true
		if !policyOK(u.AuthenticationPolicy) {
			bad("user %q: authentication_policy %q: no such policy", u.UPN, u.AuthenticationPolicy)
		}
		if u.FailedLogins < 0 {
			bad("user %q: failed_logins is negative", u.UPN)
		}
	}
	seen = map[string]bool{}
	for i, a := range s.Apps {
		k := strings.ToLower(a.AppID)
		switch {
		case !isGUID(a.AppID):
			bad("apps[%d]: app_id %q is not a GUID", i, a.AppID)
		case seen[k]:
			bad("app %q: duplicate", a.AppID)
		}
		seen[k] = true
		for j, c := range a.Certificates {
			if _, err := parseCertificate(c.PEM); err != nil {
				bad("app %q: certificates[%d]: %v", a.AppID, j, err)
			}
		}
		for j, sec := range a.Secrets {
			if sec.Value == "" {
				bad("app %q: secrets[%d]: empty value", a.AppID, j)
			}
		}
	}
	for i, sp := range s.ServicePrincipals {
		if sp.AppID == "" || sp.ObjectID == "" {
			bad("service_principals[%d]: app_id and object_id are required", i)
		}
	}
	for i, p := range s.MailboxPermissions {
		if s.FindMailbox(p.Mailbox) == nil {
			bad("mailbox_permissions[%d]: mailbox %q not found", i, p.Mailbox)
		}
	}
	if s.SigningKey != nil {
		if _, err := parseRSAKey(s.SigningKey.PrivatePEM); err != nil || s.SigningKey.KID == "" {
			bad("signing_key: unreadable or without kid")
		}
	}
	switch s.EntraLicense {
	case "", LicenseFree, LicenseP1, LicenseP2:
	default:
		bad("entra_license %q unknown (want %s, %s or %s)", s.EntraLicense, LicenseFree, LicenseP1, LicenseP2)
	}
	if s.LicenseErrorText != "" && s.LicenseErrorText != "new" {
		bad("license_error_text %q unknown (want \"\" or \"new\")", s.LicenseErrorText)
	}
	if d := s.SignInLogDelayOverride; d != nil && *d < 0 {
		bad("sign_in_log_delay is negative")
	}
	if s.API.GraphThrottle < 0 || s.API.ExchangeThrottle < 0 || s.API.GraphUnavailable < 0 || s.API.ExchangeUnavailable < 0 {
		bad("api: throttle and outage counts must not be negative")
	}
	for i, r := range s.SignIns {
		if r == nil || r.ID == "" || r.CreatedDateTime.IsZero() {
			bad("sign_ins[%d]: id and created_date_time are required", i)
		}
	}
	if s.Reader != "" && s.FindApp(s.Reader) == nil {
		bad("reader: app %q not found", s.Reader)
	}
	if s.Demo != nil && (s.FindUser(s.Demo.User) == nil || s.FindApp(s.Demo.AppID) == nil) {
		bad("demo: user %q or app %q not found", s.Demo.User, s.Demo.AppID)
	}
	return errors.Join(errs...)
}

// isGUID checks the 8-4-4-4-12 hex form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}
