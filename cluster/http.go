package cluster

import (
	"encoding/json"
	"net/http"

	"github.com/exoprobe/exoprobe/scheduler"
)

// Status is /api/v1/cluster: the members and who owns which check.
type Status struct {
	// Enabled is false for a single instance (no --cluster.* flags): it
	// owns every check.
	Enabled bool     `json:"enabled"`
	Name    string   `json:"name,omitempty"`
	Ready   bool     `json:"ready"`
	Members []Member `json:"members"`
	// Owned counts checks per member name.
	Owned  map[string]int `json:"owned"`
	Checks []Ownership    `json:"checks"`
}

// Ownership is one check's owner; OwnerURL links the member whose status
// page and /metrics show the check.
type Ownership struct {
	ID       scheduler.CheckID `json:"id"`
	Account  string            `json:"account"`
	Owner    string            `json:"owner"`
	OwnerURL string            `json:"owner_url,omitempty"`
}

// Handler serves Status. checks lists the configured checks; the query
// parameters owner, account and check filter the list (the counts stay
// whole).
func (p *Peer) Handler(checks func() []scheduler.Placement) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := Status{Enabled: p != nil, Owned: map[string]int{}, Checks: []Ownership{}}
		if p != nil {
			st.Name, st.Ready, st.Members = p.name, p.Ready(), p.Members()
		}
		urls := map[string]string{}
		for _, m := range st.Members {
			urls[m.Name] = m.WebURL
		}
		q := r.URL.Query()
		for _, c := range checks() {
			o := Ownership{ID: c.ID, Account: c.Account}
			if p != nil {
				o.Owner = p.Owner(c.Account)
				o.OwnerURL = urls[o.Owner]
			}
			st.Owned[o.Owner]++
			if (q.Has("owner") && q.Get("owner") != o.Owner) || (q.Has("account") && q.Get("account") != o.Account) ||
				(q.Has("check") && q.Get("check") != string(o.ID)) {
				continue
			}
			st.Checks = append(st.Checks, o)
		}
		if st.Members == nil {
			st.Members = []Member{}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
}
