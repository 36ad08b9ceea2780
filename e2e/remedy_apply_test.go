package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/sim"
)

// A fix repairs its own check and nothing else (issue 8 item 3, DESIGN
// principle 6). For every remedy with fix lines, in the emulator: a set of
// checks runs in a baseline state, the failure the remedy answers is
// produced, the remedy's own fix lines (from check's JSON, placeholders
// filled by the config's auth_policy) run through `sim exec`, and then:
//   - the check it answers is repaired;
//   - every other check has the outcome it had when broken or at baseline
//     (a fix may undo what the break did to others, never more);
//   - in particular no expect: fail check logs in.
//
// IMAP and POP Basic are policy-controlled here (Era 2023, not retired), so
// a fix that enables more protocols than the failing one shows: the
// article's whole line (Pop, Imap and Smtp after an SMTP-only refusal)
// fails this test. Scanner has a policy of its own: two users whose posture
// checks must differ cannot share one (the remedy says so).
func TestRemediesRepairOnlyTheirCheck(t *testing.T) {
	type applyCase struct {
		name string
		// setup makes this case's baseline (after the common one);
		// expect overrides the fixture's expectations ("target/proto/mech").
		setup  []string
		expect map[string]string
		break_ []string
		// target is the check the remedy answers ("target/proto/mech"),
		// expect: ok in this case's config.
		target, cause string
		// unrepairable: the fix moves the mailbox to OAuth (basic_auth_retired);
		// the Basic check stays refused and the XOAUTH2 one must work.
		unrepairable string
	}
	cases := []applyCase{
		{name: "basic_auth_disabled/smtp", target: "demo/smtp/basic", cause: "basic_auth_disabled",
			break_: []string{`Set-AuthenticationPolicy -Identity "Allow SMTP Basic" -AllowBasicAuthSmtp:$false`}},
		{name: "basic_auth_disabled/imap", target: "demo/imap/basic", cause: "basic_auth_disabled"},
		{name: "basic_auth_disabled/pop", target: "demo/pop/basic", cause: "basic_auth_disabled"},
		{name: "basic_auth_disabled/org-default-policy", target: "shared/smtp/basic", cause: "basic_auth_disabled"},
		{name: "smtp_auth_disabled_tenant", target: "demo/smtp/xoauth2", cause: "smtp_auth_disabled_tenant",
			break_: []string{`Set-TransportConfig -SmtpClientAuthenticationDisabled $True`}},
		// The organization's switch is the posture (SMTP AUTH off for all
		// but demo, which has its own exception): demo loses its exception
		// and gets "disabled for the Tenant". The article's fix (the
		// organization's switch) would let scanner's Basic SMTP in; the
		// remedy gives demo its exception back and nothing else.
		{name: "smtp_auth_disabled_tenant/switch-is-the-posture", target: "demo/smtp/xoauth2", cause: "smtp_auth_disabled_tenant",
			setup:  []string{`Set-TransportConfig -SmtpClientAuthenticationDisabled $True`, `Set-CasMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $False`},
			expect: map[string]string{"scanner/smtp/basic": "fail", "scanner/smtp/xoauth2": "fail"},
			break_: []string{`Set-CasMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $null`}},
		{name: "smtp_auth_disabled_mailbox", target: "demo/smtp/xoauth2", cause: "smtp_auth_disabled_mailbox",
			break_: []string{`Set-CasMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $true`}},
		{name: "security_defaults", target: "demo/smtp/basic", cause: "security_defaults",
			break_: []string{`Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true`}},
		{name: "protocol_disabled/app-token", target: "demo/imap/xoauth2", cause: "protocol_disabled",
			break_: []string{`Set-CasMailbox demo@contoso.com -ImapEnabled $false`}},
		{name: "oauth_not_authorized", target: "demo/imap/xoauth2", cause: "oauth_not_authorized",
			break_: []string{`Remove-MailboxPermission -Identity demo@contoso.com -User ` + tenantDemoAppObjectID + ` -AccessRights FullAccess -Confirm:$false`}},
		{name: "basic_auth_retired", target: "demo/smtp/basic", cause: "basic_auth_retired", unrepairable: "demo/smtp/xoauth2",
			break_: []string{`Set-SimTenant -BasicAuthRetiredSmtp:$true`}},
	}
	// Every remedy with fix lines is applied here: a cause added with a
	// fix and no case fails.
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.cause] = true
	}
	for _, c := range diagnose.Causes() {
		for _, p := range []string{"imap", "pop", "smtp"} {
			if len(diagnose.RemedyFor(c, "en", diagnose.Vars{Protocol: p}).Fix) > 0 && !covered[string(c)] {
				t.Errorf("cause %s has fix lines for %s but no case applies them", c, p)
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			zero := time.Duration(0)
			s, err := sim.Start(context.Background(), sim.Options{DataDir: t.TempDir(), PropagationDelay: &zero})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ctx := context.Background()
			exec := func(lines ...string) {
				t.Helper()
				for _, l := range lines {
					if out, err := s.Exec(ctx, l); err != nil {
						t.Fatalf("%s: %v %s", l, err, out)
					}
				}
			}
			exec(`Set-SimTenant -Era 2023 -BasicAuthRetiredImapPop:$false`,
				`New-AuthenticationPolicy -Name "Scanner SMTP Basic" -AllowBasicAuthSmtp`,
				`Set-User -Identity scanner@contoso.com -AuthenticationPolicy "Scanner SMTP Basic"`)
			exec(c.setup...)
			cfg := applyConfig(t, s, c.target, c.expect)

			base := runApply(t, cfg)
			if o := base[c.target]; o.ok && c.break_ != nil {
				// fine: the break is what makes it fail
			} else if c.break_ == nil && o.ok {
				t.Fatalf("baseline: %s already logs in; nothing to repair", c.target)
			}
			for id, o := range base {
				if o.expect == "fail" && o.ok {
					t.Fatalf("baseline: posture check %s logs in", id)
				}
			}
			exec(c.break_...)
			broken := runApply(t, cfg)
			tb := broken[c.target]
			if tb.ok || tb.cause != c.cause {
				t.Fatalf("broken: %s ok=%v cause %s, want cause %s\n%s", c.target, tb.ok, tb.cause, c.cause, broken)
			}
			if len(tb.fix) == 0 {
				t.Fatalf("broken: %s has no fix lines", c.target)
			}
			fix := fillIDs(tb.fix)
			for _, l := range fix {
				if placeholder.MatchString(l) {
					t.Fatalf("fix line with a placeholder after the config filled it: %q", l)
				}
				out, err := s.Exec(ctx, l)
				if err != nil && !(strings.HasPrefix(l, "New-ServicePrincipal ") && strings.Contains(err.Error()+out, "already exists")) {
					t.Fatalf("fix line %q: %v %s", l, err, out)
				}
			}
			after := runApply(t, cfg)
			switch {
			case c.unrepairable != "":
				if a := after[c.unrepairable]; !a.ok {
					t.Errorf("after the fix %q: %s still fails (%s)", fix, c.unrepairable, a.cause)
				}
			case !after[c.target].ok:
				t.Errorf("after the fix %q: %s still fails (%s)", fix, c.target, after[c.target].cause)
			}
			for id, a := range after {
				if id == c.target || id == c.unrepairable {
					continue
				}
				b, br := base[id], broken[id]
				if a.ok != b.ok && a.ok != br.ok {
					t.Errorf("after the fix %q: %s ok=%v, but it was ok=%v at baseline and ok=%v when broken", fix, id, a.ok, b.ok, br.ok)
				}
				if a.expect == "fail" && a.ok {
					t.Errorf("after the fix %q: posture check %s (expect: fail) logs in", fix, id)
				}
			}
		})
	}
}

// applyOutcome is one check's result in one run.
type applyOutcome struct {
	ok            bool
	expect, cause string
	fix           []string
}

type applyRun map[string]applyOutcome

func (r applyRun) String() string {
	var ids []string
	for id := range r {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		o := r[id]
		fmt.Fprintf(&b, "  %s expect=%s ok=%v cause=%s\n", id, o.expect, o.ok, o.cause)
	}
	return b.String()
}

// runApply runs check --config and returns every check's outcome, with the
// fix lines of its finding.
func runApply(t *testing.T, cfg string) applyRun {
	t.Helper()
	r := run(t, "", "check", "--config", cfg, "--output", "json")
	if r.code != 0 && r.code != 1 {
		t.Fatalf("check --config: %s", r)
	}
	var docs []struct {
		Target   string `json:"target"`
		Attempts []struct {
			Protocol, Mechanism, Expect, Cause string
			OK                                 bool
		} `json:"attempts"`
		Findings []struct {
			Protocol, Mechanism string
			Remedy              struct {
				Fix []string `json:"fix"`
			} `json:"remedy"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &docs); err != nil {
		t.Fatalf("check --config json: %v\n%s", err, r)
	}
	out := applyRun{}
	for _, d := range docs {
		for _, a := range d.Attempts {
			o := applyOutcome{ok: a.OK, expect: a.Expect, cause: a.Cause}
			for _, f := range d.Findings {
				if f.Protocol == a.Protocol && f.Mechanism == a.Mechanism {
					o.fix = f.Remedy.Fix
				}
			}
			out[d.Target+"/"+a.Protocol+"/"+a.Mechanism] = o
		}
	}
	return out
}

// fillIDs fills the app's ids an admin reads off the portal (the demo
// app's, sim/tenant/demo.go).
func fillIDs(lines []string) []string {
	r := strings.NewReplacer("<AppId>", tenantDemoAppID, "<ObjectId>", tenantDemoAppObjectID, "<ServicePrincipalId>", tenantDemoAppObjectID)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = r.Replace(l)
	}
	return out
}

// applyConfig writes the bystander checks of TestRemediesRepairOnlyTheirCheck:
// Basic posture checks on every protocol Basic must stay off for, the
// logins that must work, and target (expect: ok) among them. auth_policy
// names each user's policy, so fix lines come ready to run.
func applyConfig(t *testing.T, s *sim.Sim, target string, expect map[string]string) string {
	t.Helper()
	ep := s.Endpoints()
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := map[string]string{}
	for _, u := range ep.Users {
		local, _, _ := strings.Cut(u.UPN, "@")
		pw[local] = write(local+"-pw", u.Password)
	}
	checks := map[string][]string{
		"demo": {"smtp/basic ok", "smtp/xoauth2 ok", "imap/xoauth2 ok", "pop/xoauth2 ok", "imap/basic fail", "pop/basic fail"},
		// Scanner shares demo's app and tenant, not its policy.
		"scanner": {"smtp/basic ok", "smtp/xoauth2 ok", "imap/basic fail", "pop/basic fail"},
		// The organization's default policy (no policy of its own).
		"shared": {"smtp/basic fail", "imap/basic fail", "pop/basic fail"},
	}
	policy := map[string]string{"demo": "Allow SMTP Basic", "scanner": "Scanner SMTP Basic", "shared": "Block Basic Auth"}
	var b strings.Builder
	fmt.Fprintf(&b, `defaults:
  timeout: 20s
  hosts: {imap: %s, pop: %s, smtp: %s}
oauth_apps:
  demo-app:
    tenant: %s
    authority: %s
    client_id: %s
    client_secret_file: %s
    ca_file: %s
targets:
`, ep.IMAP.TLS, ep.POP.TLS, ep.SMTP.StartTLS, ep.TenantID, ep.Authority, ep.Demo.ClientID, write("client-secret", ep.Demo.ClientSecret), ep.CAFile)
	found := false
	for _, name := range []string{"demo", "scanner", "shared"} {
		fmt.Fprintf(&b, "  - name: %s\n    user: %s@contoso.com\n    ca_file: %s\n    password_file: %s\n    oauth: demo-app\n    auth_policy: %s\n    checks:\n",
			name, name, ep.CAFile, pw[name], policy[name])
		for _, c := range checks[name] {
			pm, exp, _ := strings.Cut(c, " ")
			if name+"/"+pm == target {
				exp, found = "ok", true
			}
			if e, ok := expect[name+"/"+pm]; ok {
				exp = e
			}
			proto, mech, _ := strings.Cut(pm, "/")
			fmt.Fprintf(&b, "      - {protocol: %s, mechanism: %s, expect: %s}\n", proto, mech, exp)
		}
	}
	if !found {
		t.Fatalf("target %s is not among the configured checks", target)
	}
	return write("exoprobe.yaml", b.String())
}
