// Package tspeer runs the TypeScript side of the Go module's cross-runtime tests: peer.mjs, one
// node script on the repository's built TypeScript packages, for every transport (its header lists
// the commands). The broker addresses reach it through the environment the tests run with.
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
	"strconv"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// Transport kinds peer.mjs knows, named as the conformance harness names them.
const (
	RedisLists   = "redis"
	RedisStreams = "redis-streams"
	RabbitMQ     = "rabbitmq"
	Kafka        = "kafka"
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

// DeadLetter is a dead letter as TypeScript's decodeDeadLetter reads it: the description, the form it
// was found in (headers or frame) and the original bytes.
type DeadLetter struct {
	transport.DeadLetterDescription
	Form         string `json:"form"`
	OriginalBody string `json:"originalBody"`
}

// Peer is a running peer.mjs: Lines yields its stdout lines and is closed when it exits.
type Peer struct {
	Lines <-chan string
	cmd   *exec.Cmd
}

// Start runs `node peer.mjs <kind> <command> <queue> [arguments]`; the process is killed when the
// test ends. It fails the test (never skips) when node or the built packages kind needs are missing.
func Start(t *testing.T, kind, command, queue string, arguments ...string) *Peer {
	t.Helper()
	script := script(t, kind)
	cmd := exec.Command("node", append([]string{script, kind, command, queue}, arguments...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		scanner := bufio.NewScanner(stdout)
		scanner.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &Peer{Lines: lines, cmd: cmd}
}

// Next decodes the peer's next line into into, failing the test when none comes within 30 s.
func (p *Peer) Next(t *testing.T, into any) {
	t.Helper()
	select {
	case line, ok := <-p.Lines:
		if !ok {
			t.Fatal("the TypeScript peer exited early")
		}
		if err := json.Unmarshal([]byte(line), into); err != nil {
			t.Fatalf("TypeScript peer line %q: %v", line, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no line from the TypeScript peer within 30 s")
	}
}

// Wait discards the remaining lines and fails the test unless the peer exits 0 within 30 s.
func (p *Peer) Wait(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for range p.Lines { //nolint:revive // drain
		}
		done <- p.cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("TypeScript peer: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the TypeScript peer did not exit within 30 s")
	}
}

// Produce publishes messages to queue through the TypeScript transport and returns once it exited.
func Produce(t *testing.T, kind, queue string, messages []Message) {
	t.Helper()
	payload, _ := json.Marshal(messages)
	Start(t, kind, "produce", queue, string(payload)).Wait(t)
}

// Consume starts the TypeScript consumer of queue's default group, waits until it is subscribed,
// and returns what it receives; it exits after deliveries deliveries.
func Consume(t *testing.T, kind, queue string, deliveries int) <-chan Delivery {
	t.Helper()
	p := Start(t, kind, "consume", queue, strconv.Itoa(deliveries))
	var ready struct {
		Ready bool `json:"ready"`
	}
	if p.Next(t, &ready); !ready.Ready {
		t.Fatal("the TypeScript consumer did not report that it subscribed")
	}
	out := make(chan Delivery, deliveries)
	go func() {
		defer close(out)
		for line := range p.Lines {
			var d Delivery
			if json.Unmarshal([]byte(line), &d) == nil {
				out <- d
			}
		}
	}()
	return out
}

// DeadLetters reads up to n dead letters of queue, oldest first, as TypeScript decodes them.
func DeadLetters(t *testing.T, kind, queue string, n int) []DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", script(t, kind), kind, "dead", queue, strconv.Itoa(n)).Output()
	if err != nil {
		t.Fatalf("TypeScript dead-letter reader: %v", err)
	}
	var letters []DeadLetter
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var letter DeadLetter
		if err := json.Unmarshal(line, &letter); err != nil {
			t.Fatalf("TypeScript dead-letter reader printed %q: %v", line, err)
		}
		letters = append(letters, letter)
	}
	return letters
}

// script is peer.mjs's path, once node and the built packages kind needs are there.
func script(t *testing.T, kind string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	transport := map[string]string{RedisLists: "redis", RedisStreams: "redis", RabbitMQ: "rabbitmq", Kafka: "kafka"}[kind]
	if transport == "" {
		t.Fatalf("tspeer: unknown transport %q", kind)
	}
	for _, pkg := range []string{"contract", "core", "transport-" + transport} {
		if _, err := os.Stat(filepath.Join(dir, "..", "..", "..", "..", "packages", pkg, "dist", "index.js")); err != nil {
			t.Fatalf("packages/%s is not built: run `bash scripts/pnpm.sh build` at the repository root", pkg)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("the cross-runtime tests need node on PATH")
	}
	return filepath.Join(dir, "peer.mjs")
}
