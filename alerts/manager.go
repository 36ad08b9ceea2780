package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Sink is one configured receiver.
type Sink struct {
	Name string
	// Type: webhook, slack, teams, pagerduty, alertmanager, email, memory.
	Type string
	// Lang of titles and bodies: "en" (default) or "ja".
	Lang string
	// RepeatInterval overrides the manager's for this sink (0: inherit).
	RepeatInterval time.Duration
	// Timeout of one delivery try (default 30s).
	Timeout  time.Duration
	Notifier Notifier
}

// Defaults of the grouping timers, as in Alertmanager.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// Options configure a Manager.
type Options struct {
	// DB is the daemon's bbolt database (store.DB.Bolt()); the outbox
	// lives in its own buckets there. Required.
	DB       *bolt.DB
	Sinks    []Sink
	Routes   []Route
	Silences []Silence
	// GroupWait: how long a new group collects checks before its first
	// notification. GroupInterval: the least time between two
	// notifications of one group. RepeatInterval: how often a group that
	// is still firing is notified again.
	GroupWait, GroupInterval, RepeatInterval time.Duration
	// StatusURL is the status page, linked from every notification.
	StatusURL string
	// Registerer receives the metrics (nil: none registered).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Backoff of failed deliveries (default 1s doubling to 5m).
	Backoff Backoff
	// Tick bounds the router's sleep, so silences that end and repeat
	// intervals are noticed (default 1s).
	Tick time.Duration
	// Now is the clock (tests).
	Now func() time.Time
	// Remedy, when set, renders the remedies of notifications at
	// delivery (nil: diagnose.RemedyForMailboxes): the daemon fills names
	// from the tenant's latest read through it.
	Remedy diagnose.RemedyFunc
}

// Delivery is one try to hand a notification to a sink, for the status
// page's list of recent deliveries.
type Delivery struct {
	Time           time.Time `json:"time"`
	Sink           string    `json:"sink"`
	SinkType       string    `json:"sink_type"`
	NotificationID string    `json:"notification_id"`
	// GroupKey is the incident the notification was about (GroupKey,
	// IncidentKey): the status page draws its deliveries on its timeline.
	GroupKey string              `json:"group_key,omitempty"`
	Kind     scheduler.EventKind `json:"kind"`
	Status   Status              `json:"status"`
	Title    string              `json:"title"`
	Checks   int                 `json:"checks"`
	OK       bool                `json:"ok"`
	// Reason and Error of a failed try (free of secrets); Final is true
	// when the notification was dropped (permanent failure).
	Reason Reason `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	Final  bool   `json:"final,omitempty"`
	// Skipped: the sink had nothing to be told (PagerDuty and a partial
	// resolve); nothing was sent and exoprobe_alerts_sent_total did not
	// count it.
	Skipped bool `json:"skipped,omitempty"`
}

// Manager takes events from the scheduler, groups and routes them, keeps
// them in the durable outbox and delivers them to the sinks. It implements
// scheduler.EventSink.
type Manager struct {
	opt    Options
	log    *slog.Logger
	db     *bolt.DB
	sinks  []*sinkRT
	byName map[string]*sinkRT
	sil    silences
	wake   chan struct{}

	// groups and index are the router's; mu lets Stats read them.
	mu     sync.Mutex
	groups map[string]*group
	index  map[scheduler.CheckID]string

	recentMu sync.Mutex
	recent   []Delivery

	mSent   *prometheus.CounterVec
	mFailed *prometheus.CounterVec
	mDepth  *prometheus.GaugeVec

	running sync.Mutex

	// failRemove, when set (tests), makes outbox deletes fail.
	failRemove func() error
}

type sinkRT struct {
	Sink
	wake  chan struct{}
	depth int // guarded by Manager.mu
}

var _ scheduler.EventSink = (*Manager)(nil)

const recentMax = 200

// New makes a Manager: it creates its buckets, loads the groups and
// silences it stored before, and registers its metrics. Call Run to start
// delivering.
func New(opt Options) (*Manager, error) {
	if opt.DB == nil {
		return nil, errors.New("alerts: a database is required for the outbox")
	}
	if opt.GroupWait <= 0 {
		opt.GroupWait = DefaultGroupWait
	}
	if opt.GroupInterval <= 0 {
		opt.GroupInterval = DefaultGroupInterval
	}
	if opt.RepeatInterval <= 0 {
		opt.RepeatInterval = DefaultRepeatInterval
	}
	if opt.Tick <= 0 {
		opt.Tick = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	m := &Manager{opt: opt, log: opt.Logger.With("component", "alerts"), db: opt.DB,
		byName: map[string]*sinkRT{}, wake: make(chan struct{}, 1),
		groups: map[string]*group{}, index: map[scheduler.CheckID]string{}}
	for _, s := range opt.Sinks {
		if s.Name == "" || s.Notifier == nil {
			return nil, fmt.Errorf("alerts: sink %q: name and notifier are required", s.Name)
		}
		if _, dup := m.byName[s.Name]; dup {
			return nil, fmt.Errorf("alerts: duplicate sink name %q", s.Name)
		}
		if s.Timeout <= 0 {
			s.Timeout = 30 * time.Second
		}
		rt := &sinkRT{Sink: s, wake: make(chan struct{}, 1)}
		m.sinks = append(m.sinks, rt)
		m.byName[s.Name] = rt
	}
	for _, r := range opt.Routes {
		for _, n := range r.Sinks {
			if _, ok := m.byName[n]; !ok {
				return nil, fmt.Errorf("alerts: a route names unknown sink %q", n)
			}
		}
	}
	for i := range opt.Silences {
		if opt.Silences[i].Source == "" {
			opt.Silences[i].Source = "config"
		}
		if err := opt.Silences[i].validate(); err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
	}
	m.sil.config = opt.Silences
	if err := m.initDB(); err != nil {
		return nil, err
	}
	m.initMetrics(opt.Registerer)
	return m, nil
}

func (m *Manager) now() time.Time { return m.opt.Now() }

func (m *Manager) initMetrics(reg prometheus.Registerer) {
	m.mSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "exoprobe_alerts_sent_total",
		Help: "Notifications a sink accepted, by sink and event kind.",
	}, []string{"sink", "kind"})
	m.mFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "exoprobe_alerts_failed_total",
		Help: "Failed delivery tries, by sink and reason (timeout, connection, http_4xx, http_5xx, rejected, other).",
	}, []string{"sink", "reason"})
	m.mDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "exoprobe_alert_outbox_depth",
		Help: "Notifications waiting in the durable outbox, by sink.",
	}, []string{"sink"})
	m.mu.Lock()
	for _, s := range m.sinks {
		for _, r := range Reasons() {
			m.mFailed.WithLabelValues(s.Name, string(r))
		}
		m.mDepth.WithLabelValues(s.Name).Set(float64(s.depth))
	}
	m.mu.Unlock()
	if reg != nil {
		for _, c := range []prometheus.Collector{m.mSent, m.mFailed, m.mDepth} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					m.log.Error("alerts: metrics not registered", "err", err)
				}
			}
		}
	}
}

// Run routes and delivers until ctx is done, then returns once every
// goroutine it started has stopped. Undelivered notifications stay in the
// outbox for the next start.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.TryLock() {
		return errors.New("alerts: Run called twice")
	}
	defer m.running.Unlock()
	var wg sync.WaitGroup
	for _, s := range m.sinks {
		wg.Go(func() { m.worker(ctx, s) })
	}
	wg.Go(func() { m.router(ctx) })
	wg.Wait()
	return nil
}

// Emit stores an event in the outbox's inbox (unless the commit hook
// already did) and wakes the router. Safe for concurrent use.
func (m *Manager) Emit(ev scheduler.Event) {
	var have bool
	_ = m.db.View(func(tx *bolt.Tx) error {
		have = known(tx, ev.ID)
		return nil
	})
	if !have {
		if err := m.db.Update(func(tx *bolt.Tx) error { return putEvent(tx, ev) }); err != nil {
			m.log.Error("alerts: event not queued", "event", ev.ID, "check", ev.CheckID, "err", err)
			return
		}
	}
	signal(m.wake)
}

// CommitHook writes the batch's events into the outbox's inbox inside the
// scheduler's own transaction, so that an event and its alert are stored
// together: a kill -9 between the commit and Emit loses nothing. Register
// it with store.DB.OnCommit.
func (m *Manager) CommitHook(tx *bolt.Tx, batch []scheduler.Update) error {
	for _, u := range batch {
		for _, ev := range u.Events {
			if err := putEvent(tx, ev); err != nil {
				return fmt.Errorf("alerts: %w", err)
			}
		}
	}
	return nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Recent returns up to limit deliveries, newest first.
func (m *Manager) Recent(limit int) []Delivery {
	m.recentMu.Lock()
	defer m.recentMu.Unlock()
	n := len(m.recent)
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]Delivery, 0, limit)
	for i := n - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, m.recent[i])
	}
	return out
}

func (m *Manager) record(d Delivery) {
	m.recentMu.Lock()
	defer m.recentMu.Unlock()
	m.recent = append(m.recent, d)
	if len(m.recent) > recentMax {
		m.recent = append(m.recent[:0], m.recent[len(m.recent)-recentMax:]...)
	}
}

// Stats are the manager's figures.
type Stats struct {
	// Outbox: notifications waiting per sink.
	Outbox map[string]int `json:"outbox"`
	// Groups currently tracked (firing or awaiting a resolve).
	Groups int `json:"groups"`
	// Firing checks across groups.
	Firing int `json:"firing"`
}

// Stats returns the current figures.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Stats{Outbox: map[string]int{}, Groups: len(m.groups), Firing: len(m.index)}
	for _, s := range m.sinks {
		st.Outbox[s.Name] = s.depth
	}
	return st
}

// Sinks names the configured sinks and their types.
func (m *Manager) Sinks() map[string]string {
	out := map[string]string{}
	for _, s := range m.sinks {
		out[s.Name] = s.Type
	}
	return out
}

// Silences lists the silences (config and API), expired ones included
// until they are pruned.
func (m *Manager) Silences() []Silence { return m.sil.all() }

// AddSilence stores an API silence.
func (m *Manager) AddSilence(s Silence) error {
	if s.ID == "" {
		s.ID = newID()
	}
	s.Source = "api"
	if err := s.validateAPI(m.now()); err != nil {
		return err
	}
	// The count is checked and the silence added under one lock, so
	// concurrent requests cannot overshoot the cap.
	m.sil.mu.Lock()
	if m.sil.activeAPI(m.now()) >= MaxAPISilences {
		m.sil.mu.Unlock()
		return fmt.Errorf("%w: %d API silences are in force (the limit); delete one or let one expire", ErrTooManySilences, MaxAPISilences)
	}
	if err := m.db.Update(func(tx *bolt.Tx) error { return putSilence(tx, &s) }); err != nil {
		m.sil.mu.Unlock()
		return fmt.Errorf("alerts: store silence: %w", err)
	}
	m.sil.api = append(m.sil.api, s)
	m.sil.mu.Unlock()
	signal(m.wake)
	return nil
}

// DeleteSilence removes an API silence; found is false when there is none
// with that id.
func (m *Manager) DeleteSilence(id string) (found bool, err error) {
	m.sil.mu.Lock()
	defer m.sil.mu.Unlock()
	for i := range m.sil.api {
		if m.sil.api[i].ID == id {
			if err := m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bSilences).Delete([]byte(id)) }); err != nil {
				return true, fmt.Errorf("alerts: delete silence: %w", err)
			}
			m.sil.api = append(m.sil.api[:i], m.sil.api[i+1:]...)
			signal(m.wake)
			return true, nil
		}
	}
	return false, nil
}
