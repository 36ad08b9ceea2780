package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/exoprobe/exoprobe/inspect/snapshot"
)

// Exchange's reads: one Get- cmdlet each through InvokeCommand
// (tenant-api.md §8.8). Values keep Exchange's property names.

func (r *Reader) readTransport(ctx context.Context) part {
	rows, _, err := r.c.invoke(ctx, "Get-TransportConfig", nil)
	if err != nil {
		return failed(err)
	}
	var v struct {
		SmtpClientAuthenticationDisabled *bool
	}
	if len(rows) == 0 || json.Unmarshal(rows[0], &v) != nil || v.SmtpClientAuthenticationDisabled == nil {
		return failed(&ReadError{What: "Get-TransportConfig", Kind: snapshot.KindInvalid, Status: 200, Err: errors.New("no SmtpClientAuthenticationDisabled in the answer")})
	}
	tc := snapshot.TransportConfig{SmtpClientAuthenticationDisabled: *v.SmtpClientAuthenticationDisabled}
	return part{ok: true, apply: func(s *snapshot.Snapshot) { c := tc; s.TransportConfig = &c }}
}

func (r *Reader) readOrgConfig(ctx context.Context) part {
	rows, _, err := r.c.invoke(ctx, "Get-OrganizationConfig", nil)
	if err != nil {
		return failed(err)
	}
	var v struct {
		DefaultAuthenticationPolicy *string
	}
	if len(rows) == 0 || json.Unmarshal(rows[0], &v) != nil {
		return failed(&ReadError{What: "Get-OrganizationConfig", Kind: snapshot.KindInvalid, Status: 200, Err: errors.New("no organization in the answer")})
	}
	oc := snapshot.OrganizationConfig{DefaultAuthenticationPolicy: cleanPtr(v.DefaultAuthenticationPolicy)}
	return part{ok: true, apply: func(s *snapshot.Snapshot) { c := oc; s.OrganizationConfig = &c }}
}

func (r *Reader) readPolicies(ctx context.Context) part {
	rows, trunc, err := r.c.invoke(ctx, "Get-AuthenticationPolicy", nil)
	if err != nil {
		return failed(err)
	}
	var out []snapshot.AuthenticationPolicy
	for _, raw := range rows {
		var p snapshot.AuthenticationPolicy
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		p.Name = cleanText(p.Name, 128)
		p.Identity = cleanText(p.Identity, 256)
		p.DistinguishedName = cleanText(p.DistinguishedName, 512)
		out = append(out, p)
	}
	pt := part{ok: true, apply: func(s *snapshot.Snapshot) {
		s.AuthenticationPolicies = append([]snapshot.AuthenticationPolicy(nil), out...)
		s.PoliciesRead = true
	}}
	truncatedProblem(&pt, "Get-AuthenticationPolicy", trunc)
	return pt
}

func (r *Reader) readSPs(ctx context.Context) part {
	rows, trunc, err := r.c.invoke(ctx, "Get-ServicePrincipal", nil)
	if err != nil {
		return failed(err)
	}
	var out []snapshot.ExchangeSP
	for _, raw := range rows {
		var v struct {
			AppID       string `json:"AppId"`
			ObjectID    string `json:"ObjectId"`
			Identity    string
			DisplayName string
		}
		if json.Unmarshal(raw, &v) != nil {
			continue
		}
		out = append(out, snapshot.ExchangeSP{AppID: cleanText(v.AppID, 64), ObjectID: cleanText(v.ObjectID, 64),
			Identity: cleanText(v.Identity, 256), DisplayName: cleanText(v.DisplayName, 256)})
	}
	pt := part{ok: true, apply: func(s *snapshot.Snapshot) {
		s.ServicePrincipals = append([]snapshot.ExchangeSP(nil), out...)
		s.ServicePrincipalsRead = true
	}}
	truncatedProblem(&pt, "Get-ServicePrincipal", trunc)
	return pt
}

func truncatedProblem(p *part, what string, trunc bool) {
	if trunc {
		p.prob = &snapshot.Problem{What: what, Kind: snapshot.KindTruncated,
			Why: "Exchange returned one page and more results exist (the next page is not followed)"}
	}
}

// casRow is a Get-CASMailbox row.
type casRow struct {
	PrimarySmtpAddress               string
	UserPrincipalName                string
	Identity                         string
	SmtpClientAuthenticationDisabled *bool
	ImapEnabled                      *bool
	PopEnabled                       *bool
}

func (c casRow) address() string {
	return strings.ToLower(cleanText(firstNonEmpty(c.PrimarySmtpAddress, c.UserPrincipalName, c.Identity), 256))
}

// mailbox returns the snapshot's mailbox for address, creating it.
func mailbox(s *snapshot.Snapshot, address string) *snapshot.Mailbox {
	if s.Mailboxes == nil {
		s.Mailboxes = map[string]*snapshot.Mailbox{}
	}
	k := strings.ToLower(address)
	m := s.Mailboxes[k]
	if m == nil {
		m = &snapshot.Mailbox{Address: k}
		s.Mailboxes[k] = m
	}
	return m
}

func applyCAS(s *snapshot.Snapshot, address string, c casRow) {
	m := mailbox(s, address)
	m.Found, m.CASRead = true, true
	m.SmtpClientAuthenticationDisabled = c.SmtpClientAuthenticationDisabled
	m.ImapEnabled, m.PopEnabled = c.ImapEnabled, c.PopEnabled
}

func (r *Reader) readCAS(ctx context.Context, address string) part {
	rows, _, err := r.c.invoke(ctx, "Get-CASMailbox", map[string]any{"Identity": address})
	if err != nil {
		var re *ReadError
		if errors.As(err, &re) && re.Kind == snapshot.KindNotFound {
			return part{ok: true, apply: func(s *snapshot.Snapshot) { m := mailbox(s, address); m.CASRead, m.UserRead = true, true }}
		}
		return failed(err)
	}
	var c casRow
	if len(rows) == 0 || json.Unmarshal(rows[0], &c) != nil {
		return part{ok: true, apply: func(s *snapshot.Snapshot) { m := mailbox(s, address); m.CASRead = true }}
	}
	return part{ok: true, apply: func(s *snapshot.Snapshot) { applyCAS(s, address, c) }}
}

func (r *Reader) readAllCAS(ctx context.Context) part {
	rows, trunc, err := r.c.invoke(ctx, "Get-CASMailbox", map[string]any{"ResultSize": "Unlimited"})
	if err != nil {
		return failed(err)
	}
	var all []casRow
	for _, raw := range rows {
		var c casRow
		if json.Unmarshal(raw, &c) == nil && c.address() != "" {
			all = append(all, c)
		}
	}
	pt := part{ok: true, apply: func(s *snapshot.Snapshot) {
		for _, c := range all {
			applyCAS(s, c.address(), c)
		}
	}}
	truncatedProblem(&pt, "Get-CASMailbox -ResultSize Unlimited", trunc)
	return pt
}

// userRow is a Get-User row.
type userRow struct {
	UserPrincipalName    string
	WindowsEmailAddress  string
	AuthenticationPolicy *string
}

func applyUser(s *snapshot.Snapshot, address string, u userRow) {
	m := mailbox(s, address)
	m.UserRead = true
	m.AuthenticationPolicy = policyName(cleanPtr(u.AuthenticationPolicy))
}

// policyName reduces a distinguished name ("CN=Block Basic,CN=Auth
// Policies,...") to the policy's name; a plain name stays. Whether
// Get-User gives a name or a DN is not confirmed (tenant-api.md §8.8).
func policyName(p *string) *string {
	if p == nil {
		return nil
	}
	v := *p
	if strings.HasPrefix(strings.ToUpper(v), "CN=") {
		v = v[3:]
		if i := strings.Index(v, ",CN="); i >= 0 {
			v = v[:i]
		}
	}
	return &v
}

func cleanPtr(p *string) *string {
	if p == nil {
		return nil
	}
	v := cleanText(*p, 256)
	return &v
}

func (r *Reader) readUser(ctx context.Context, address string) part {
	rows, _, err := r.c.invoke(ctx, "Get-User", map[string]any{"Identity": address})
	if err != nil {
		var re *ReadError
		if errors.As(err, &re) && re.Kind == snapshot.KindNotFound {
			return part{ok: true, apply: func(s *snapshot.Snapshot) { m := mailbox(s, address); m.UserRead = true }}
		}
		return failed(err)
	}
	var u userRow
	if len(rows) == 0 || json.Unmarshal(rows[0], &u) != nil {
		return part{ok: true, apply: func(s *snapshot.Snapshot) { m := mailbox(s, address); m.UserRead = true }}
	}
	return part{ok: true, apply: func(s *snapshot.Snapshot) { applyUser(s, address, u) }}
}

func (r *Reader) readAllUsers(ctx context.Context) part {
	rows, trunc, err := r.c.invoke(ctx, "Get-User", map[string]any{"ResultSize": "Unlimited"})
	if err != nil {
		return failed(err)
	}
	var all []userRow
	for _, raw := range rows {
		var u userRow
		if json.Unmarshal(raw, &u) == nil && u.UserPrincipalName != "" {
			all = append(all, u)
		}
	}
	pt := part{ok: true, apply: func(s *snapshot.Snapshot) {
		for _, u := range all {
			addr := strings.ToLower(cleanText(u.UserPrincipalName, 256))
			// Only users with a mailbox: Get-CASMailbox listed them.
			if m := s.Mailbox(addr); m != nil && m.Found {
				applyUser(s, addr, u)
			}
		}
	}}
	truncatedProblem(&pt, "Get-User -ResultSize Unlimited", trunc)
	return pt
}

func (r *Reader) readPermissions(ctx context.Context, address string) part {
	rows, _, err := r.c.invoke(ctx, "Get-MailboxPermission", map[string]any{"Identity": address})
	if err != nil {
		return failed(err)
	}
	var perms []snapshot.MailboxPermission
	for _, raw := range rows {
		var v struct {
			User         string
			AccessRights json.RawMessage
			Deny         bool
		}
		if json.Unmarshal(raw, &v) != nil {
			continue
		}
		// AccessRights: an array or a single string (tenant-api.md §8.8).
		var rights []string
		if json.Unmarshal(v.AccessRights, &rights) != nil {
			var one string
			if json.Unmarshal(v.AccessRights, &one) == nil {
				for _, p := range strings.Split(one, ",") {
					rights = append(rights, strings.TrimSpace(p))
				}
			}
		}
		for i := range rights {
			rights[i] = cleanText(rights[i], 64)
		}
		perms = append(perms, snapshot.MailboxPermission{User: cleanText(v.User, 256), AccessRights: rights, Deny: v.Deny})
	}
	return part{ok: true, apply: func(s *snapshot.Snapshot) {
		m := mailbox(s, address)
		m.PermissionsRead = true
		m.Permissions = append([]snapshot.MailboxPermission(nil), perms...)
	}}
}
