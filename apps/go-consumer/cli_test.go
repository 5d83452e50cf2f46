package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	thrun "github.com/thrun-dev/thrun/sdks/go"
	"github.com/thrun-dev/thrun/sdks/go/transport"
)

func redisURL() string {
	if url := os.Getenv("THRUN_REDIS_URL"); url != "" {
		return url
	}
	return "redis://127.0.0.1:6390"
}

func TestValidateCommand(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"validate"}, strings.NewReader(`{"event":"go_message","payload":{"text":"hello"}}`), &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"validate"}, strings.NewReader(`{"event":"go_message"}`), &bytes.Buffer{}, &stderr); code != 1 {
		t.Fatalf("exit %d for a message without payload", code)
	}
	if !strings.Contains(stderr.String(), "payload") {
		t.Fatalf("reason does not name the missing property: %s", stderr.String())
	}
}

// produce then consume through a real Redis (fails, never skips, when it is not running).
func TestProduceConsumeRoundTrip(t *testing.T) {
	ctx := context.Background()
	opts, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis is not reachable at %s (%v): start it with scripts/brokers/redis.sh start", opts.Addr, err)
	}
	queue := "go-test-roundtrip"
	defer rdb.Del(ctx, queue, queue+".dead")
	rdb.Del(ctx, queue, queue+".dead")

	var stderr bytes.Buffer
	if code := run([]string{"produce", "--redis", redisURL(), "--queue", queue, "--event", "order_created", "--payload", `{"order_id":7}`}, nil, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("produce exit %d: %s", code, stderr.String())
	}
	// A malformed message from somebody else is skipped, not fatal.
	rdb.LPush(ctx, queue, "{not json")
	rdb.LPush(ctx, queue, `{"event":"go_message","payload":{"text":"hello"}}`)

	var stdout bytes.Buffer
	if code := run([]string{"consume", "--redis", redisURL(), "--queue", queue, "--count", "2", "--timeout", "5s"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("consume exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", stdout.String())
	}
	var first thrun.Envelope
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Event != "order_created" || first.Meta == nil || first.Meta.Source != "go" {
		t.Fatalf("unexpected first envelope %s", lines[0])
	}
	if !strings.Contains(lines[1], `"go_message"`) {
		t.Fatalf("unexpected second envelope %s", lines[1])
	}
	if !strings.Contains(stderr.String(), "dead-lettering an undecodable message") {
		t.Fatalf("malformed message not reported: %s", stderr.String())
	}
	// The malformed message is kept, unchanged, after the dead letter's description line.
	raw, err := rdb.LIndex(ctx, queue+".dead", 0).Bytes()
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	line, body, found := bytes.Cut(raw, []byte("\n"))
	if !found {
		t.Fatalf("not a dead-letter frame: %q", raw)
	}
	var letter transport.DeadLetterDescription
	if err := json.Unmarshal(line, &letter); err != nil {
		t.Fatal(err)
	}
	if string(body) != "{not json" || letter.Error.Code != "invalid_json" || letter.Queue != queue || letter.Attempts != 1 {
		t.Fatalf("unexpected dead letter %q", raw)
	}
}
