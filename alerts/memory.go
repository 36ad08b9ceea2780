package alerts

import (
	"context"
	"sync"
)

// Memory is a sink that keeps what it receives, for the demo (the status
// page lists its deliveries) and for tests.
type Memory struct {
	Name string
	Lang string

	mu  sync.Mutex
	got []Received
	ch  chan struct{}
}

// Received is one notification a Memory sink accepted, with its rendering.
type Received struct {
	Notification Notification `json:"notification"`
	Content      Content      `json:"content"`
}

// NewMemory returns an empty Memory sink.
func NewMemory(name, lang string) *Memory {
	return &Memory{Name: name, Lang: lang, ch: make(chan struct{}, 1)}
}

func (m *Memory) Notify(ctx context.Context, ns []Notification) (bool, error) {
	m.mu.Lock()
	for i := range ns {
		m.got = append(m.got, Received{Notification: ns[i], Content: Render(&ns[i], m.Lang)})
	}
	if len(m.got) > 1000 {
		m.got = append(m.got[:0], m.got[len(m.got)-1000:]...)
	}
	m.mu.Unlock()
	signal(m.ch)
	return false, nil
}

// Received returns what arrived, oldest first.
func (m *Memory) Received() []Received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Received(nil), m.got...)
}

// Changed is signalled after every delivery.
func (m *Memory) Changed() <-chan struct{} { return m.ch }
