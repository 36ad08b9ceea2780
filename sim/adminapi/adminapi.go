// Package adminapi is the emulator's Exchange Online admin API: the
// undocumented InvokeCommand endpoint the ExchangeOnlineManagement module
// uses (../shared/tenant-api.md §8), running the cmdlet interpreter's
// Exchange Get- cmdlets against the emulated tenant and answering in the
// endpoint's JSON (§8.3), paging (§8.4) and errors (§8.5).
//
//	POST /adminapi/beta/{tenantId}/InvokeCommand[?$select=a,b]
//	{"CmdletInput":{"CmdletName":"Get-CASMailbox","Parameters":{"Identity":"…"}}}
//
// Authorization (§8.5, §8.6, G2O live): a token for
// https://outlook.office365.com whose roles lack Exchange.ManageAsApp gets
// 401; with the role but no supported Entra directory role in wids, 403
// with a body of 4096 NUL bytes — the same answer as for a cmdlet the
// endpoint does not run (anything but an Exchange Get- cmdlet). Optional
// headers (X-AnchorMailbox, X-CmdletName, Prefer, …) are accepted and
// ignored, except Prefer: odata.maxpagesize.
package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/sim/cmdlet"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// maxBody bounds a request body: CmdletInput is small.
const maxBody = 1 << 20

// nulBody is the 403 body: "403 with a long run of NUL bytes" (§8.5); the
// emulator checklist (§10) says 4096.
var nulBody = make([]byte, 4096)

// RoleManageAsApp is the application permission InvokeCommand needs
// (§8.6); G2O warns the two look-alikes do not work (§1.5).
const RoleManageAsApp = "Exchange.ManageAsApp"

// supportedRoles are the Entra roles §8.6 lists for app-only Exchange
// Online PowerShell (Option 1) that the emulator knows ids for. Whether
// Security Reader suffices for Get-CASMailbox/Get-User/Get-MailboxPermission
// is not confirmed (§8.6); the emulator lets it read.
var supportedRoles = []string{"Global Reader", "Security Reader", "Exchange Administrator", "Global Administrator"}

type handler struct {
	t   *tenant.Tenant
	in  *cmdlet.Interpreter
	log *slog.Logger
}

// Handler serves /adminapi/. URLs in responses are built from the request's
// Host with https.
func Handler(t *tenant.Tenant, in *cmdlet.Interpreter, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{t: t, in: in, log: log}
}

type cmdletInput struct {
	CmdletInput *struct {
		CmdletName string         `json:"CmdletName"`
		Parameters map[string]any `json:"Parameters"`
	} `json:"CmdletInput"`
}

func (h *handler) now() time.Time {
	if h.t.Now != nil {
		return h.t.Now()
	}
	return time.Now()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var disabled bool
	h.t.View(func(s *tenant.State) { disabled = s.API.InvokeCommandDisabled })
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// adminapi / beta|v1.0 / {tenant} / InvokeCommand. §8.2: CIPP also
	// allows v1.0 and G2O says there is none; the emulator takes both.
	if disabled || len(segs) != 4 || segs[0] != "adminapi" || (segs[1] != "beta" && segs[1] != "v1.0") ||
		!strings.EqualFold(segs[3], "InvokeCommand") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.t.TakeUnavailable("exchange") {
		// §8.5: the module retries 503 (body not captured; empty here).
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var known bool
	h.t.View(func(s *tenant.State) { known = strings.EqualFold(segs[2], s.ID) || s.HasDomain(segs[2]) })
	if !known {
		// A tenant this emulator is not: the token's tid cannot match
		// either (inferred: 401 like a bad token).
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	claims, status := h.authorize(r)
	if status != 0 {
		h.log.Info("adminapi: refused", "status", status)
		if status == http.StatusForbidden {
			w.WriteHeader(status)
			_, _ = w.Write(nulBody)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer`)
		w.WriteHeader(status)
		return
	}
	if hit, ra := h.t.TakeThrottle("exchange"); hit {
		// §8.5: the module "sleeps Retry-After seconds … or backs off
		// exponentially if absent".
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	var in cmdletInput
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil || in.CmdletInput == nil || in.CmdletInput.CmdletName == "" {
		writeError(w, "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
			"The request body must be {\"CmdletInput\":{\"CmdletName\":…,\"Parameters\":{…}}}.") // inferred text
		return
	}
	name := in.CmdletInput.CmdletName
	if _, ok := cmdlet.ReadCmdlet(name); !ok {
		// Only Exchange Get- cmdlets (tenant-api.md §8.1: "read-only
		// (Get-* …) only"); anything else is "an unauthorized or unknown
		// cmdlet": 403 with NUL bytes (§8.5).
		h.log.Info("adminapi: cmdlet refused", "cmdlet", name, "app", claims.AppID)
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(nulBody)
		return
	}
	params := in.CmdletInput.Parameters
	if params == nil {
		params = map[string]any{}
	}
	// ResultSize is applied here, as the service pages (§8.4); the
	// interpreter only validates it.
	limit := 0
	if rs, ok := params["ResultSize"]; ok {
		if n, err := strconv.Atoi(fmt.Sprint(rs)); err == nil && n >= 0 {
			limit = n
		}
	}
	if n, ok := maxPageSize(r.Header.Get("Prefer")); ok && (limit == 0 || n < limit) {
		limit = n
	}
	rows, warnings, err := h.in.Invoke(name, params)
	if err != nil {
		var ie *cmdlet.InvokeError
		if errors.As(err, &ie) {
			writeInvokeError(w, ie)
			return
		}
		writeError(w, "Microsoft.Exchange.Admin.OData.Core.ODataServiceException", err.Error())
		return
	}
	offset := 0
	if st := r.URL.Query().Get("$skiptoken"); st != "" {
		var expires bool
		h.t.View(func(s *tenant.State) { expires = s.API.InvokeCommandPagingExpires })
		off, ok := parseToken(st)
		if expires || !ok || off > len(rows) {
			// G2O live 2026-07-23 (§8.4).
			writeError(w, "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
				"Expired or Invalid pagination request. Default Expiry time is 00:30:00")
			return
		}
		offset = off
	}
	sel := selectList(r.URL.Query().Get("$select"))
	base := "https://" + r.Host + "/adminapi/" + segs[1] + "/" + segs[2]
	out := envelope{Context: base + "/$metadata#Collection(Exchange.GenericHashTable)", WarningsType: "#Collection(String)"}
	end := len(rows)
	if limit > 0 && offset+limit < len(rows) {
		end = offset + limit
		// §8.4, G2O live.
		warnings = append(warnings, "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter.")
		out.NextLink = base + "/InvokeCommand?%24skiptoken=" + token(end)
	}
	out.Warnings = append([]string{}, warnings...)
	out.Value = []row{}
	for _, rw := range rows[offset:end] {
		out.Value = append(out.Value, project(rw, sel))
	}
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(out)
}

// authorize checks the token: 401 for a bad token, a non-Exchange audience
// (a Graph token "is rejected by the service", §1.1) or no
// Exchange.ManageAsApp; 403 for no supported directory role (§8.5
// "Measured progression: 401 with neither → 403 with the app role only →
// 200 with both").
func (h *handler) authorize(r *http.Request) (*tenant.Claims, int) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, http.StatusUnauthorized
	}
	var c *tenant.Claims
	var err error
	now := h.now()
	_ = h.t.Update(func(s *tenant.State) error { c, err = s.VerifyAccessToken(tok, now); return nil })
	if err != nil || !tenant.IsExchangeResource(c.Aud) || !c.IsApp() || !c.HasRole(RoleManageAsApp) {
		return nil, http.StatusUnauthorized
	}
	for _, role := range supportedRoles {
		if c.HasWid(tenant.DirectoryRoleTemplates[role]) {
			return c, 0
		}
	}
	return nil, http.StatusForbidden
}

// envelope is §8.3's success document, keys in the live capture's order.
type envelope struct {
	Context      string   `json:"@odata.context"`
	NextLink     string   `json:"@odata.nextLink,omitempty"`
	WarningsType string   `json:"adminapi.warnings@odata.type"`
	Warnings     []string `json:"@adminapi.warnings"`
	Value        []row    `json:"value"`
}

// row is one result object with its properties in cmdlet order.
type row cmdlet.Row

func (rw row) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range rw {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.Name)
		v, err := json.Marshal(p.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// project keeps $select's properties (case-insensitive; unknown names are
// left out, inferred).
func project(rw cmdlet.Row, sel []string) row {
	if len(sel) == 0 {
		return row(rw)
	}
	out := row{}
	for _, s := range sel {
		for _, p := range rw {
			if strings.EqualFold(p.Name, s) {
				out = append(out, p)
			}
		}
	}
	return out
}

func selectList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// maxPageSize reads Prefer: odata.maxpagesize=N (§8.2: "IS honored by the
// service", G2O live).
func maxPageSize(prefer string) (int, bool) {
	for _, p := range strings.Split(prefer, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "odata.maxpagesize") {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
				return n, true
			}
		}
	}
	return 0, false
}

// token is the opaque $skiptoken of a truncated response (the live one is
// base64-looking, §8.4).
func token(offset int) string { return fmt.Sprintf("ADZ%08x", offset) }

func parseToken(s string) (int, bool) {
	if !strings.HasPrefix(s, "ADZ") {
		return 0, false
	}
	n, err := strconv.ParseInt(s[3:], 16, 64)
	return int(n), err == nil && n >= 0
}

// writeInvokeError maps a refused call to §8.5's bodies.
func writeInvokeError(w http.ResponseWriter, ie *cmdlet.InvokeError) {
	switch ie.Kind {
	case cmdlet.InvokeUnknownCmdlet:
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(nulBody)
	case cmdlet.InvokeBadParameter:
		writeError(w, "Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException", ie.Msg)
	case cmdlet.InvokeTransform:
		writeError(w, "Microsoft.Exchange.AdminApi.CommandInvocation.ParameterTransformationException", ie.Msg)
	case cmdlet.InvokeNotFound:
		// Not captured anywhere (§8.5): "Expect HTTP 400 with an
		// internalexception.type such as …ManagementObjectNotFoundException
		// (inferred; unconfirmed)".
		writeError(w, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", ie.Msg)
	default:
		writeError(w, "Microsoft.Exchange.Admin.OData.Core.ODataServiceException", ie.Msg)
	}
}

// writeError sends §8.5's 400 envelope: error.message is always "Invalid
// Operation"; the text is in details[0].message ("|Type|text") and in
// innererror.internalexception.
func writeError(w http.ResponseWriter, typ, msg string) {
	body := map[string]any{"error": map[string]any{
		"code":    "BadRequest",
		"message": "Invalid Operation",
		"details": []map[string]string{{"code": "Client", "target": "", "message": "|" + typ + "|" + msg}},
		"innererror": map[string]any{
			"message":    "Invalid Operation",
			"type":       "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
			"stacktrace": "",
			"internalexception": map[string]string{
				"message": msg, "type": typ, "stacktrace": "",
			},
		},
	}}
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(body)
}
