package brokerkit

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSettlementSettlesOnceAndASecondCallWaitsForTheFirst(t *testing.T) {
	var s Settlement
	var runs atomic.Int32
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.Settle(func() error { runs.Add(1); <-release; return nil }, Settled)
	}()
	for s.State() != Settling {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() { second <- s.Settle(func() error { runs.Add(1); return nil }, Settled) }()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 1 || s.State() != Settled {
		t.Fatalf("%d runs, state %d", runs.Load(), s.State())
	}
	if s.Release(func() { t.Fatal("released a settled delivery") }) {
		t.Fatal("Release of a settled delivery reported true")
	}
}

func TestARefusedSettlementLeavesTheDeliveryPending(t *testing.T) {
	var s Settlement
	refusal := errors.New("nack")
	if err := s.Settle(func() error { return refusal }, Settled); !errors.Is(err, refusal) {
		t.Fatalf("got %v", err)
	}
	if s.State() != Pending || !s.Refused() {
		t.Fatal("a refused settlement must leave the delivery pending and refused")
	}
	if !s.Again() || s.Refused() {
		t.Fatal("Again readies it for another run")
	}
	given := false
	if !s.Release(func() { given = true }) || !given || s.State() != Released {
		t.Fatal("a pending delivery is released")
	}
	if err := s.Settle(func() error { t.Fatal("settled after release"); return nil }, Settled); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsMatchTheirKindAndHideURLPasswords(t *testing.T) {
	kind := errors.New("closed")
	err := &Error{Transport: "rabbitmq", Code: "closed", Message: "cannot connect", Kind: kind, Err: errors.New("dial amqp://guest:s3cret@host:5672: refused")}
	if !errors.Is(err, kind) || strings.Contains(err.Error(), "s3cret") || !strings.HasPrefix(err.Error(), "[thrun:rabbitmq] cannot connect: ") {
		t.Fatalf("%v", err)
	}
}

func TestBackoffGrowsAndStaysInTheUpperHalf(t *testing.T) {
	for attempt, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 3: 400 * time.Millisecond, 20: 5 * time.Second} {
		for range 50 {
			if d := Backoff(attempt); d < ceiling/2 || d > ceiling {
				t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, ceiling/2, ceiling)
			}
		}
	}
}
