package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// connectionManager owns the AMQP connection: it dials on first use and again after the connection
// was lost, so publishers and consumers only ever ask for "the live connection".
type connectionManager struct {
	url       string
	config    amqp.Config
	redactURL string

	mu         sync.Mutex
	conn       *amqp.Connection
	generation int // bumped on every new connection: declarations made on an old one are forgotten
	closed     bool
}

func (m *connectionManager) get(ctx context.Context) (*amqp.Connection, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, 0, ErrClosed
	}
	if m.conn != nil && !m.conn.IsClosed() {
		return m.conn, m.generation, nil
	}
	conn, err := m.dial(ctx)
	if err != nil {
		return nil, 0, err
	}
	m.conn = conn
	m.generation++
	return conn, m.generation, nil
}

func (m *connectionManager) dial(ctx context.Context) (*amqp.Connection, error) {
	type result struct {
		conn *amqp.Connection
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := amqp.DialConfig(m.url, m.config)
		done <- result{conn, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, &TransportError{Transport: transportName, Code: "connection_failed", Message: fmt.Sprintf("cannot connect to %s", m.redactURL), Err: r.err}
		}
		return r.conn, nil
	case <-ctx.Done():
		go func() { // a dial that still succeeds is closed, not leaked
			if r := <-done; r.conn != nil {
				_ = r.conn.Close()
			}
		}()
		return nil, &TransportError{Transport: transportName, Code: "connection_failed", Message: "no connection to " + m.redactURL, Err: ctx.Err()}
	}
}

func (m *connectionManager) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.conn != nil {
		_ = m.conn.Close()
		m.conn = nil
	}
}

// channel opens a channel on the live connection, dialling first when needed.
func (m *connectionManager) channel(ctx context.Context) (*amqp.Channel, int, error) {
	conn, generation, err := m.get(ctx)
	if err != nil {
		return nil, 0, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, 0, &TransportError{Transport: transportName, Code: "connection_failed", Message: "cannot open a channel", Err: err}
	}
	return ch, generation, nil
}

// isDroppedChannel: the broker dropped a channel or its connection (a 3xx or 5xx AMQP code, such as
// 320 connection forced, 504 channel not open or 541 internal error), rather than refusing what was
// asked (a 4xx code: it would only refuse again) or the connection failing to open (no AMQP error).
func isDroppedChannel(err error) bool {
	var amqpErr *amqp.Error
	return errors.As(err, &amqpErr) && (amqpErr.Code < 400 || amqpErr.Code >= 500)
}

func isPreconditionFailed(err error) bool {
	var amqpErr *amqp.Error
	return errors.As(err, &amqpErr) && amqpErr.Code == amqp.PreconditionFailed
}
