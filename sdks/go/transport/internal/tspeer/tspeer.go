// Package tspeer runs the TypeScript side of the Go transports' cross-runtime tests
// (transport/testdata/ts-peer.mjs, on the built TypeScript transports).
package tspeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Message is a message the TypeScript producer publishes.
type Message struct {
	Body    string `json:"body"`
	Key     string `json:"key,omitempty"`
	DelayMs int    `json:"delayMs,omitempty"`
}

// Delivery is what the TypeScript consumer saw of one delivery.
type Delivery struct {
	Body    string            `json:"body"`
	Attempt int               `json:"attempt"`
	Key     string            `json:"key"`
	Headers map[string]string `json:"headers"`
}

// DeadLetter is a dead letter as TypeScript's decodeDeadLetter reads it.
type DeadLetter struct {
	Queue string `json:"queue"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Attempts     int    `json:"attempts"`
	FailedAt     string `json:"failed_at"`
	Form         string `json:"form"`
	OriginalBody string `json:"originalBody"`
}

// DeadLetters peeks at up to n dead letters of queue through the TypeScript transport and returns
// them as TypeScript decodes them.
func DeadLetters(t *testing.T, transport, queue string, n int) []DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", script(t, transport), transport, "dead", queue, strconv(n)).Output()
	if err != nil {
		t.Fatalf("TypeScript dead-letter reader: %v", err)
	}
	var letters []DeadLetter
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var letter DeadLetter
		if err := json.Unmarshal(line, &letter); err != nil {
			t.Fatalf("TypeScript dead-letter reader printed %q: %v", line, err)
		}
		letters = append(letters, letter)
	}
	return letters
}

func script(t *testing.T, transport string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	transportDir := filepath.Join(filepath.Dir(file), "..", "..")
	root := filepath.Join(transportDir, "..", "..", "..")
	dist := filepath.Join(root, "packages", "transport-"+transport, "dist", "index.js")
	_, err := exec.LookPath("node")
	if _, statErr := os.Stat(dist); err != nil || statErr != nil {
		const why = "the cross-runtime test needs node and the built TypeScript transports (bash scripts/pnpm.sh build)"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return filepath.Join(transportDir, "testdata", "ts-peer.mjs")
}

// Produce publishes messages to queue through the TypeScript transport and returns once it exited.
func Produce(t *testing.T, transport, queue string, messages []Message) {
	t.Helper()
	payload, _ := json.Marshal(messages)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", script(t, transport), transport, "produce", queue, string(payload)).CombinedOutput()
	if err != nil {
		t.Fatalf("TypeScript producer: %v\n%s", err, out)
	}
}

// Consume starts the TypeScript consumer of queue's default group, waits until it is subscribed,
// and returns what it receives; it exits after deliveries deliveries.
func Consume(t *testing.T, transport, queue string, deliveries int) <-chan Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, "node", script(t, transport), transport, "consume", queue, strconv(deliveries))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	out := make(chan Delivery, deliveries)
	ready := make(chan struct{})
	go func() {
		defer close(out)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			var line struct {
				Ready bool `json:"ready"`
				Delivery
			}
			if json.Unmarshal(scanner.Bytes(), &line) != nil {
				continue
			}
			if line.Ready {
				close(ready)
				continue
			}
			out <- line.Delivery
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("the TypeScript consumer did not subscribe within 60 s")
	}
	return out
}

func strconv(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
