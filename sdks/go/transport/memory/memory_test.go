package memory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

func consume(t *testing.T, tr *Transport, queue string, handle transport.Handler) transport.Subscription {
	t.Helper()
	s, err := tr.Consume(context.Background(), queue, handle, transport.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOrderRetryAndDeadLetter(t *testing.T) {
	tr := New()
	ctx := context.Background()
	type seen struct {
		body    string
		attempt int
	}
	got := make(chan seen, 10)
	consume(t, tr, "q", func(ctx context.Context, d transport.Delivery) error {
		got <- seen{string(d.Body()), d.Attempt()}
		switch {
		case string(d.Body()) == "b" && d.Attempt() == 1:
			return d.Retry(ctx, 50*time.Millisecond)
		case string(d.Body()) == "c":
			return d.DeadLetter(ctx, transport.DeadLetterReason{Code: "bad", Message: "no"})
		}
		return d.Ack(ctx)
	})
	if err := tr.Publish(ctx, "q", []transport.Message{{Body: []byte("a")}, {Body: []byte("b")}, {Body: []byte("c")}}); err != nil {
		t.Fatal(err)
	}
	want := []seen{{"a", 1}, {"b", 1}, {"c", 1}, {"b", 2}}
	for _, w := range want {
		select {
		case g := <-got:
			if g != w {
				t.Fatalf("got %+v, want %+v", g, w)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("timed out waiting for %+v", w)
		}
	}
	dead, _ := tr.Peek(ctx, "q.dead", 10)
	if len(dead) != 1 || string(dead[0].Body) != "c" || dead[0].Headers[transport.HeaderDeadErrorCode] != "bad" || dead[0].Headers[transport.HeaderDeadQueue] != "q" {
		t.Fatalf("dead letters %+v", dead)
	}
}

func TestCloseReleasesWhatIsStillRunning(t *testing.T) {
	tr := New()
	ctx := context.Background()
	started := make(chan struct{})
	s := consume(t, tr, "q", func(context.Context, transport.Delivery) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return nil
	})
	_ = tr.Publish(ctx, "q", []transport.Message{{Body: []byte("slow")}})
	<-started
	drain, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_ = s.Close(drain)
	left, _ := tr.Peek(ctx, "q", 10)
	if len(left) != 1 || string(left[0].Body) != "slow" {
		t.Fatalf("left %+v", left)
	}
	got := make(chan int, 1)
	consume(t, tr, "q", func(ctx context.Context, d transport.Delivery) error { got <- d.Attempt(); return d.Ack(ctx) })
	if a := <-got; a != 2 {
		t.Fatalf("released message came back as attempt %d", a)
	}
}

func TestPublishRefusals(t *testing.T) {
	tr := New()
	ctx := context.Background()
	if err := tr.Publish(ctx, "q", []transport.Message{{Body: make([]byte, MaxPayloadBytes+1)}}); !errors.Is(err, transport.ErrPayloadTooLarge) {
		t.Fatalf("got %v", err)
	}
	if err := tr.Publish(ctx, "Q!", nil); !errors.Is(err, transport.ErrInvalidQueue) {
		t.Fatalf("got %v", err)
	}
	_ = tr.Close(ctx)
	if err := tr.Publish(ctx, "q", nil); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("got %v", err)
	}
	if _, err := tr.Consume(ctx, "q", nil, transport.ConsumeOptions{}); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestCancellingTheConsumeContextStopsTheConsumer(t *testing.T) {
	tr := New()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 10)
	if _, err := tr.Consume(ctx, "q", func(ctx context.Context, d transport.Delivery) error {
		got <- string(d.Body())
		return d.Ack(ctx)
	}, transport.ConsumeOptions{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	time.Sleep(20 * time.Millisecond)
	_ = tr.Publish(context.Background(), "q", []transport.Message{{Body: []byte("after")}})
	select {
	case b := <-got:
		t.Fatalf("a stopped consumer received %q", b)
	case <-time.After(100 * time.Millisecond):
	}
}
