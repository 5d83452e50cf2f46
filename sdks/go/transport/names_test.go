package transport

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIsName(t *testing.T) {
	valid := []string{"order_created", "order.success", "billing.invoice-paid", "a", "q1", strings.Repeat("a", MaxNameLength)}
	invalid := []string{"", ".a", "a.", "a..b", "Order", "a b", "a/b", "é", strings.Repeat("a", MaxNameLength+1)}
	for _, s := range valid {
		if !IsName(s) {
			t.Errorf("IsName(%q) = false, want true", s)
		}
	}
	for _, s := range invalid {
		if IsName(s) {
			t.Errorf("IsName(%q) = true, want false", s)
		}
	}
}

func TestValidateQueueName(t *testing.T) {
	if err := ValidateQueueName("jobs"); err != nil {
		t.Fatalf("unexpected error %v", err)
	}
	if err := ValidateQueueName("Jobs"); !errors.Is(err, ErrInvalidQueue) {
		t.Fatalf("got %v, want ErrInvalidQueue", err)
	}
	if got := DeadLetterQueueName("jobs"); got != "jobs.dead" {
		t.Fatalf("DeadLetterQueueName = %q", got)
	}
}

func TestDeadLetterDescription(t *testing.T) {
	d := NewDeadLetterDescription("orders", DeadLetterReason{Code: "max_attempts", Message: strings.Repeat("é", 600)}, 5, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if len(d.Error.Message) > MaxReasonMessageBytes || !strings.HasSuffix(d.Error.Message, "…") {
		t.Fatalf("message not cut: %d bytes", len(d.Error.Message))
	}
	frame := string(d.Frame([]byte(`{"event":"a","payload":{}}`)))
	wantPrefix := `{"queue":"orders","error":{"code":"max_attempts","message":"`
	if !strings.HasPrefix(frame, wantPrefix) || !strings.HasSuffix(frame, `"},"attempts":5,"failed_at":"2026-01-01T00:00:00.000Z"}`+"\n"+`{"event":"a","payload":{}}`) {
		t.Fatalf("unexpected frame %q", frame)
	}
	if h := d.Headers(); h[HeaderDeadAttempts] != "5" || h[HeaderDeadQueue] != "orders" {
		t.Fatalf("unexpected headers %v", h)
	}
}
