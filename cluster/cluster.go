// Package cluster lets several exoprobe replicas share one configuration's
// checks, on the Prometheus ecosystem's own clustering: gossip membership
// with hashicorp/memberlist, as Alertmanager's cluster package does, and no
// external coordinator.
//
//   - Ownership: every account (a target's login) is owned by exactly one
//     live member, chosen by rendezvous (highest random weight) hashing of
//     the account over the members' names. All checks of an account share
//     its owner, so the lockout guard of a mailbox is kept in one place;
//     when a member joins or dies only the accounts it gains or held move.
//   - The lockout guard's record travels: each member gossips its own
//     failed Basic logins and in-flight Basic attempts per account, and the
//     scheduler counts every member's, so taking an account over adds no
//     failed logins beyond the limit. An attempt in flight on a member that
//     dies counts as a failure until it leaves the window: the member may
//     have sent the password before it died.
//   - Announcements: every event a member's scheduler commits is gossiped;
//     a member taking a check over continues that state, so an incident the
//     cluster already announced is not announced again.
//
// State travels in memberlist broadcasts (at once) and in its periodic
// push-pull full-state exchange (repair, and members that join later).
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/exoprobe/exoprobe/scheduler"
)

// Defaults are Alertmanager's (cluster.Default*), which are memberlist's
// LAN settings with a faster gossip.
const (
	DefaultListenAddress     = "0.0.0.0:9094"
	DefaultGossipInterval    = 200 * time.Millisecond
	DefaultPushPullInterval  = time.Minute
	DefaultTCPTimeout        = 10 * time.Second
	DefaultProbeTimeout      = 500 * time.Millisecond
	DefaultProbeInterval     = time.Second
	DefaultReconnectInterval = 10 * time.Second
	DefaultSettleTimeout     = 30 * time.Second
)

// Config configures a Peer. Zero durations mean the defaults above.
type Config struct {
	// ListenAddress is host:port for gossip (TCP and UDP).
	ListenAddress string
	// AdvertiseAddress is host:port other members reach this one at
	// (default: derived from ListenAddress by memberlist; required when
	// listening on 0.0.0.0 behind NAT).
	AdvertiseAddress string
	// Peers are host:port of members to join; DNS names are resolved at
	// every (re)join, so a StatefulSet's not-yet-existing pods are found
	// once they appear.
	Peers []string
	// Name is this member's name, unique in the cluster and the input of
	// ownership hashing (default: hostname and the gossip port, stable
	// across restarts of a StatefulSet pod).
	Name string
	// Label isolates clusters sharing a network (memberlist's label).
	Label string
	// SecretKey (16, 24 or 32 bytes) encrypts and authenticates all
	// gossip with AES-GCM (memberlist's keyring): without it, anyone who
	// can reach the gossip port can join, and forge guard records or
	// announced states. Every member needs the same key.
	SecretKey []byte
	// WebURL is this member's HTTP address, shown by the others so the
	// owner of a check can be linked.
	WebURL string

	GossipInterval    time.Duration
	PushPullInterval  time.Duration
	TCPTimeout        time.Duration
	ProbeTimeout      time.Duration
	ProbeInterval     time.Duration
	ReconnectInterval time.Duration
	// SettleTimeout bounds how long Settle waits for the membership to
	// stop changing before this member takes on work.
	SettleTimeout time.Duration
	// GuardWindow is the lockout guard's window: gossiped records older
	// than it are forgotten (default 1h).
	GuardWindow time.Duration
	// AnnouncedTTL: announced states of checks that meet their
	// expectation are forgotten after this (default 7 days); failing
	// ones are kept.
	AnnouncedTTL time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) defaults() error {
	if c.ListenAddress == "" {
		return errors.New("cluster: no listen address")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.GossipInterval, DefaultGossipInterval)
	def(&c.PushPullInterval, DefaultPushPullInterval)
	def(&c.TCPTimeout, DefaultTCPTimeout)
	def(&c.ProbeTimeout, DefaultProbeTimeout)
	def(&c.ProbeInterval, DefaultProbeInterval)
	def(&c.ReconnectInterval, DefaultReconnectInterval)
	def(&c.SettleTimeout, DefaultSettleTimeout)
	def(&c.GuardWindow, time.Hour)
	def(&c.AnnouncedTTL, 7*24*time.Hour)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Member is one live member as the API shows it.
type Member struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	WebURL  string `json:"web_url,omitempty"`
	State   string `json:"state"`
	Self    bool   `json:"self,omitempty"`
}

// Peer is this process's membership of the cluster. It implements
// scheduler.Cluster and scheduler.EventSink.
type Peer struct {
	cfg     Config
	log     *slog.Logger
	ml      *memberlist.Memberlist
	queue   *memberlist.TransmitLimitedQueue
	name    string
	started int64 // UnixNano: this incarnation's guard records are newer
	peers   []string

	// names are the live members' names (sorted), the input of
	// ownership; replaced on every membership change.
	names atomic.Pointer[[]string]
	// urls are the live members' status page URLs by name, replaced with
	// names.
	urls  atomic.Pointer[map[string]string]
	ready atomic.Bool
	// live is the member set as join/leave notifications built it.
	memberMu sync.Mutex
	live     map[string]Member

	mu        sync.Mutex
	guards    guardRows
	announced map[scheduler.CheckID]announcement
	ver       int64 // last version of this member's guard rows

	stop chan struct{}
	wg   sync.WaitGroup

	changes  prometheus.Counter
	received *prometheus.CounterVec
}

// New starts gossiping on cfg.ListenAddress and joins cfg.Peers (failures
// to join are logged and retried every ReconnectInterval: peers that are
// not up yet are normal). The member takes no work until Settle returns.
func New(cfg Config) (*Peer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	host, portStr, err := net.SplitHostPort(cfg.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen address %q: %w", cfg.ListenAddress, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen address %q: bad port", cfg.ListenAddress)
	}
	if cfg.Name == "" {
		h, _ := os.Hostname()
		if h == "" {
			h = "exoprobe"
		}
		cfg.Name = h + ":" + portStr
	}
	p := &Peer{cfg: cfg, log: cfg.Logger.With("component", "cluster"), name: cfg.Name,
		started: time.Now().UnixNano(), guards: guardRows{},
		announced: map[scheduler.CheckID]announcement{}, stop: make(chan struct{})}
	p.ver = p.started
	p.names.Store(&[]string{cfg.Name})
	p.urls.Store(&map[string]string{cfg.Name: cfg.WebURL})

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	if cfg.AdvertiseAddress != "" {
		ah, ap, err := net.SplitHostPort(cfg.AdvertiseAddress)
		if err != nil {
			return nil, fmt.Errorf("cluster: advertise address %q: %w", cfg.AdvertiseAddress, err)
		}
		if mc.AdvertisePort, err = strconv.Atoi(ap); err != nil {
			return nil, fmt.Errorf("cluster: advertise address %q: bad port", cfg.AdvertiseAddress)
		}
		mc.AdvertiseAddr = ah
	}
	mc.GossipInterval, mc.PushPullInterval = cfg.GossipInterval, cfg.PushPullInterval
	mc.TCPTimeout, mc.ProbeTimeout, mc.ProbeInterval = cfg.TCPTimeout, cfg.ProbeTimeout, cfg.ProbeInterval
	mc.Label = cfg.Label
	if len(cfg.SecretKey) > 0 {
		if n := len(cfg.SecretKey); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("cluster: secret key is %d bytes; it must be 16, 24 or 32 (AES-128/192/256)", n)
		}
		mc.SecretKey = cfg.SecretKey
	}
	mc.Delegate = (*delegate)(p)
	mc.Events = (*events)(p)
	mc.Logger = slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)
	p.queue = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return len(*p.names.Load()) }, RetransmitMult: 3}
	p.metrics(cfg.Registerer)
	if p.ml, err = memberlist.Create(mc); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	self := p.ml.LocalNode().Address()
	for _, a := range cfg.Peers {
		if a != self && a != cfg.AdvertiseAddress && a != cfg.ListenAddress {
			p.peers = append(p.peers, a)
		}
	}
	p.log.Info("cluster member started", "name", p.name, "address", self, "peers", p.peers)
	p.join()
	p.wg.Add(1)
	go p.maintain()
	return p, nil
}

// join tries every configured peer; memberlist resolves DNS names.
func (p *Peer) join() {
	if len(p.peers) == 0 {
		return
	}
	n, err := p.ml.Join(p.peers)
	if err != nil {
		p.log.Debug("cluster join incomplete", "joined", n, "err", err)
	}
}

// maintain rejoins configured peers that are missing (a pod that was not
// resolvable at start, a partition that healed) and forgets old records.
func (p *Peer) maintain() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		if p.ml.NumMembers() <= len(p.peers) {
			p.join()
		}
		p.expire(time.Now())
	}
}

// Settle waits until the membership has stopped changing (three polls in a
// row, as Alertmanager does) or SettleTimeout passed, then lets this member
// take on work: a member that started owning accounts before it had heard
// of the others would run their checks alongside them.
func (p *Peer) Settle(ctx context.Context) {
	defer p.ready.Store(true)
	if len(p.peers) == 0 {
		return
	}
	poll := max(5*p.cfg.GossipInterval, 500*time.Millisecond)
	deadline := time.Now().Add(p.cfg.SettleTimeout)
	last, stable := -1, 0
	for time.Now().Before(deadline) {
		n := p.ml.NumMembers()
		if n == last && n > 1 {
			stable++
			if stable >= 3 {
				p.log.Info("cluster settled", "members", n)
				return
			}
		} else {
			stable = 0
		}
		last = n
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
	p.log.Warn("cluster not settled within the timeout; taking on work anyway", "members", p.ml.NumMembers(),
		"timeout", p.cfg.SettleTimeout)
}

// Ready reports whether Settle has returned.
func (p *Peer) Ready() bool { return p.ready.Load() }

// Name is this member's name.
func (p *Peer) Name() string { return p.name }

// Close leaves the cluster (so the others take the accounts over at once,
// without waiting for failure detection) and stops gossiping.
func (p *Peer) Close() error {
	select {
	case <-p.stop:
		return nil
	default:
	}
	close(p.stop)
	p.wg.Wait()
	err := p.ml.Leave(2 * time.Second)
	if e := p.ml.Shutdown(); err == nil {
		err = e
	}
	return err
}

// Members returns the live members, sorted by name. They are copies taken
// in memberlist's join/update notifications: the *Node values its Members
// returns are written by its goroutines without a lock.
func (p *Peer) Members() []Member {
	p.memberMu.Lock()
	out := make([]Member, 0, len(p.live))
	for _, m := range p.live {
		m.Self = m.Name == p.name
		out = append(out, m)
	}
	p.memberMu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return cmpString(a.Name, b.Name) })
	return out
}

// memberOf copies what the API shows of a node; called inside memberlist's
// notifications, where reading the node is safe.
func memberOf(n *memberlist.Node) Member {
	m := Member{Name: n.Name, Address: n.Address(), State: stateName(n.State)}
	var meta nodeMeta
	if json.Unmarshal(n.Meta, &meta) == nil {
		m.WebURL = meta.WebURL
	}
	return m
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return "unknown"
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Owner returns the member that owns the account: the live member with
// the highest rendezvous score.
func (p *Peer) Owner(account string) string { return owner(*p.names.Load(), account) }

// OwnerOf returns the account's owner and the URL of its status page, as
// it advertised it ("" if it did not).
func (p *Peer) OwnerOf(account string) (name, webURL string) {
	name = p.Owner(account)
	return name, (*p.urls.Load())[name]
}

// Owns says whether this member runs the account's checks: it must be
// settled and the account's owner.
func (p *Peer) Owns(account string) bool {
	return p.ready.Load() && p.Owner(account) == p.name
}

// owner is rendezvous hashing: each (member, account) pair gets a score and
// the highest wins. Removing a member moves only its accounts; adding one
// takes about 1/n of everyone's.
func owner(names []string, account string) string {
	var best string
	var bestScore uint64
	for _, n := range names {
		if s := score(n, account); best == "" || s > bestScore || (s == bestScore && n > best) {
			best, bestScore = n, s
		}
	}
	return best
}

func score(member, account string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(member))
	h.Write([]byte{0})
	h.Write([]byte(account))
	// FNV's low bits mix poorly for similar inputs; finalize (SplitMix64)
	// so that scores of one account over members are independent.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// membershipChanged refreshes the names ownership is computed from. It is
// fed by memberlist's join and leave notifications (a dead member leaves;
// a suspect one stays until declared dead, so ownership does not flap).
func (p *Peer) membershipChanged(why string, n *memberlist.Node, joined bool) {
	p.memberMu.Lock()
	defer p.memberMu.Unlock()
	if p.live == nil {
		p.live = map[string]Member{}
	}
	if joined {
		p.live[n.Name] = memberOf(n)
	} else {
		delete(p.live, n.Name)
	}
	names := []string{p.name}
	for name := range p.live {
		if name != p.name {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	urls := map[string]string{p.name: p.cfg.WebURL}
	for name, m := range p.live {
		if name != p.name {
			urls[name] = m.WebURL
		}
	}
	// Before names: a reader that sees a new owner finds its URL.
	p.urls.Store(&urls)
	if slices.Equal(*p.names.Load(), names) {
		return
	}
	p.names.Store(&names)
	p.changes.Inc()
	p.log.Info("cluster membership changed: ownership recomputed", "why", why, "node", n.Name, "members", names)
}

func (p *Peer) metrics(reg prometheus.Registerer) {
	p.changes = prometheus.NewCounter(prometheus.CounterOpts{Name: "exoprobe_cluster_membership_changes_total",
		Help: "Changes of the live member set (each recomputes which member owns which account)."})
	p.received = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exoprobe_cluster_messages_received_total",
		Help: "Gossip messages received, by kind (guard: lockout guard records, announce: check state announcements)."},
		[]string{"kind"})
	if reg == nil {
		return
	}
	reg.MustRegister(p.changes, p.received,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "exoprobe_cluster_members",
			Help: "Live members of the cluster (alive or suspect) as this member sees them."},
			func() float64 { return float64(len(*p.names.Load())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "exoprobe_cluster_ready",
			Help: "1 once the membership settled and this member takes on work."},
			func() float64 {
				if p.ready.Load() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "exoprobe_cluster_health_score",
			Help: "memberlist's health score of this member (0 is best; higher means it is slow to answer probes)."},
			func() float64 {
				if p.ml == nil {
					return 0
				}
				return float64(p.ml.GetHealthScore())
			}),
	)
}
