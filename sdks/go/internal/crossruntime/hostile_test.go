package crossruntime

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/thrun-dev/thrun/schemas"
	"github.com/thrun-dev/thrun/sdks/go/transport"
	"github.com/thrun-dev/thrun/sdks/go/transport/redis"

	thrun "github.com/thrun-dev/thrun/sdks/go"
)

// errorVectors reads every codec vector that expects an error: raw bytes → reason code.
func errorVectors(t *testing.T) (inputs [][]byte, codes []string) {
	t.Helper()
	files, _ := fs.Glob(schemas.Vectors, "vectors/codec/*.json")
	for _, file := range files {
		raw, err := fs.ReadFile(schemas.Vectors, file)
		if err != nil {
			t.Fatal(err)
		}
		var vectors struct {
			Cases []struct {
				Input       *string `json:"input"`
				InputBase64 *string `json:"input_base64"`
				InputRepeat *struct {
					Prefix, Repeat, Suffix string
					Count                  int
				} `json:"input_repeat"`
				Expect struct {
					Error string `json:"error"`
				} `json:"expect"`
			} `json:"cases"`
		}
		if err := json.Unmarshal(raw, &vectors); err != nil {
			t.Fatal(err)
		}
		for _, c := range vectors.Cases {
			if c.Expect.Error == "" {
				continue
			}
			var input []byte
			switch {
			case c.Input != nil:
				input = []byte(*c.Input)
			case c.InputBase64 != nil:
				input, _ = base64.StdEncoding.DecodeString(*c.InputBase64)
			case c.InputRepeat != nil:
				input = []byte(c.InputRepeat.Prefix + strings.Repeat(c.InputRepeat.Repeat, c.InputRepeat.Count) + c.InputRepeat.Suffix)
			}
			inputs = append(inputs, input)
			codes = append(codes, c.Expect.Error)
		}
	}
	return inputs, codes
}

// Every hostile input of the codec vectors, pushed by a foreign producer onto a Redis list, is
// dead-lettered by the Go worker with the reason code TypeScript gives, its bytes unchanged, and
// the good message behind them is handled.
func TestHostileInputIsDeadLetteredWithTheVectorsReasonCodes(t *testing.T) {
	raw := requireRedis(t)
	q := testQueue(t, raw)
	inputs, codes := errorVectors(t)
	ctx := context.Background()
	want := map[string]string{}
	for i, input := range inputs {
		want[string(input)] = codes[i]
		if err := raw.LPush(ctx, q, input).Err(); err != nil {
			t.Fatal(err)
		}
	}
	raw.LPush(ctx, q, `{"event":"good","payload":{}}`)
	tr, err := redis.New(redis.Options{URL: redisURL(), MaxPayloadBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close(ctx) })
	c := goClientOn(t, tr, q)
	handled := make(chan struct{}, 1)
	_ = c.Listen("good", func(context.Context, *thrun.Message) error { handled <- struct{}{}; return nil })
	run(t, c)
	select {
	case <-handled:
	case <-time.After(20 * time.Second):
		t.Fatal("the good message behind the hostile ones was not handled")
	}
	// Handlers run concurrently: the last dead letters may land just after the good message.
	var frames []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if frames, err = raw.LRange(ctx, q+".dead", 0, -1).Result(); err != nil || len(frames) >= len(inputs) {
			break
		}
	}
	if err != nil || len(frames) != len(inputs) {
		t.Fatalf("%d dead letters for %d hostile inputs (%v)", len(frames), len(inputs), err)
	}
	for _, frame := range frames {
		line, body, _ := bytes.Cut([]byte(frame), []byte("\n"))
		var d transport.DeadLetterDescription
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("frame %q: %v", line, err)
		}
		code, ok := want[string(body)]
		if !ok || d.Error.Code != code || d.Attempts != 1 {
			t.Errorf("dead letter %+v for %.60q, want code %s", d, body, code)
		}
	}
	t.Logf("%d hostile inputs dead-lettered with their reason codes", len(frames))
}
