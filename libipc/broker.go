package libipc

import (
	"context"
	"fmt"
	"sync"
)

// BrokerQueueLen is the queue capacity of the pairs a Broker creates.
const BrokerQueueLen = DefaultQueueLen

// Broker plays init's role in hosted tests: services register an accept
// function under a name, clients Connect by name and get a fresh endpoint
// whose other end is handed to the service's accept function. When a
// service restarts it registers again and later Connects reach the new
// instance. A Broker is safe for concurrent use; it implements Dialer.
type Broker struct {
	mu       sync.Mutex
	services map[string]func(Endpoint)
	changed  chan struct{} // closed and replaced on every Register/Unregister
}

// NewBroker returns a broker with no services.
func NewBroker() *Broker {
	return &Broker{services: make(map[string]func(Endpoint)), changed: make(chan struct{})}
}

// Register makes name reach accept, replacing an earlier registration (a
// restarted service). accept must not block for long: it is called from
// Connect (Server.Accept is a good accept function).
func (b *Broker) Register(name string, accept func(Endpoint)) {
	b.mu.Lock()
	b.services[name] = accept
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// Unregister removes name (a service that died); Connect fails with
// ErrNotFound until it registers again.
func (b *Broker) Unregister(name string) {
	b.mu.Lock()
	delete(b.services, name)
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// Connect returns a new endpoint connected to service name, or an error
// wrapping ErrNotFound if no such service is registered.
func (b *Broker) Connect(ctx context.Context, name string) (Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	accept, ok := b.services[name]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("libipc: connect %q: %w", name, ErrNotFound)
	}
	client, server, err := TransportPair(BrokerQueueLen)
	if err != nil {
		return nil, fmt.Errorf("libipc: connect %q: %w", name, err)
	}
	accept(server)
	return client, nil
}

// ConnectWait is Connect that waits (until ctx ends) for name to be
// registered — what a client reconnecting after a service crash wants.
func (b *Broker) ConnectWait(ctx context.Context, name string) (Endpoint, error) {
	for {
		b.mu.Lock()
		_, ok := b.services[name]
		wait := b.changed
		b.mu.Unlock()
		if ok {
			ep, err := b.Connect(ctx, name)
			if err == nil || ctx.Err() != nil {
				return ep, err
			}
			continue // unregistered in between: wait again
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("libipc: connect %q: %w", name, ctx.Err())
		}
	}
}
