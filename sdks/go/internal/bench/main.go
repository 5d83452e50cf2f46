// Command bench compares the Go worker's consume rate on Redis Lists with a raw go-redis
// BLMOVE+LREM loop (the least a reliable consumer does) and with the TypeScript worker (createThrun
// on @thrun/transport-redis, run by node from the repository's built packages), at concurrency 1
// and 50, in one run, and prints a table of rates and ratios.
//
//	go run ./internal/bench [-redis URL] [-messages 5000] [-typescript=false] [-cpuprofile FILE]
//
// Workload: N small envelopes (≈ 130 bytes) LPUSHed up front, then consumed until the queue is
// empty; each handler does nothing. The rate counts from the start of consuming to the last message
// handled (raw: its LREM; the workers: its handler, its ack a round trip later). Both workers
// decode and validate every envelope; the raw loop does not.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	thrun "github.com/thrun-dev/thrun/sdks/go"
	"github.com/thrun-dev/thrun/sdks/go/transport/redis"
)

func main() {
	url := flag.String("redis", envOr("THRUN_REDIS_URL", "redis://127.0.0.1:6390"), "Redis URL")
	messages := flag.Int("messages", 5000, "messages per run")
	typescript := flag.Bool("typescript", true, "also run the TypeScript worker (needs node and `bash scripts/pnpm.sh build`)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the Go worker's runs to this file")
	flag.Parse()
	if *cpuProfile != "" {
		profile = *cpuProfile
	}
	opts, err := goredis.ParseURL(*url)
	if err != nil {
		fail(err)
	}
	opts.PoolSize = 100
	raw := goredis.NewClient(opts)
	defer raw.Close()
	if err := raw.Ping(context.Background()).Err(); err != nil {
		fail(fmt.Errorf("Redis at %s: %w", opts.Addr, err))
	}
	fmt.Printf("consume %d messages from a Redis list (Lists mode), handler does nothing\n", *messages)
	fmt.Printf("targets: Go worker ≥ 0.8× raw at concurrency 1, ≥ 1.2× raw at 50\n\n")
	fmt.Printf("%-12s %11s %11s %9s", "concurrency", "raw Go", "Go worker", "Go/raw")
	if *typescript {
		fmt.Printf(" %11s %9s %9s", "TS worker", "TS/raw", "Go/TS")
	}
	fmt.Printf("   (msg/s)\n")
	for _, concurrency := range []int{1, 50} {
		rawRate := rawLoop(raw, *messages, concurrency)
		goRate := worker(raw, *url, *messages, concurrency)
		fmt.Printf("%-12d %11.0f %11.0f %8.2fx", concurrency, rawRate, goRate, goRate/rawRate)
		if *typescript {
			tsRate := typescriptWorker(raw, *url, *messages, concurrency)
			fmt.Printf(" %11.0f %8.2fx %8.2fx", tsRate, tsRate/rawRate, goRate/tsRate)
		}
		fmt.Println()
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func fill(raw *goredis.Client, queue string, n int) {
	ctx := context.Background()
	raw.Del(ctx, queue)
	pipe := raw.Pipeline()
	for i := range n {
		body := fmt.Sprintf(`{"event":"bench","payload":{"n":%d},"meta":{"event_id":"0b7c6f1e-3c2a-4f7e-9d1a-%012d","timestamp":"2026-01-01T00:00:00Z","source":"go"}}`, i, i)
		pipe.LPush(ctx, queue, body)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		fail(err)
	}
}

func cleanup(raw *goredis.Client, queue string) {
	ctx := context.Background()
	keys, _ := raw.Keys(ctx, "{"+queue+"}:*").Result()
	raw.Del(ctx, append(keys, queue, queue+".dead")...)
}

// rawLoop: concurrency goroutines, each BLMOVE into its own processing list, then LREM.
func rawLoop(raw *goredis.Client, n, concurrency int) float64 {
	queue := "bench-raw"
	fill(raw, queue, n)
	defer cleanup(raw, queue)
	ctx := context.Background()
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for g := range concurrency {
		processing := fmt.Sprintf("{%s}:processing:%d", queue, g)
		wg.Go(func() {
			for done.Load() < int64(n) {
				body, err := raw.BLMove(ctx, queue, processing, "RIGHT", "LEFT", time.Second).Result()
				if err != nil {
					return // empty: the others finish
				}
				raw.LRem(ctx, processing, -1, body)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

var profile string

// worker: the Go runtime's worker on the Redis transport, one listener.
func worker(raw *goredis.Client, url string, n, concurrency int) float64 {
	if profile != "" {
		f, err := os.Create(fmt.Sprintf("%s.c%d", profile, concurrency))
		if err != nil {
			fail(err)
		}
		defer f.Close()
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	queue := "bench-thrun"
	fill(raw, queue, n)
	defer cleanup(raw, queue)
	tr, err := redis.New(redis.Options{URL: url})
	if err != nil {
		fail(err)
	}
	defer tr.Close(context.Background())
	off := false
	c, err := thrun.New(tr, thrun.Options{Queue: queue, Concurrency: concurrency, HandleSignals: &off, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fail(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var handled atomic.Int64
	var last time.Time
	var mu sync.Mutex
	_ = c.Listen("bench", func(context.Context, *thrun.Message) error {
		if handled.Add(1) == int64(n) {
			mu.Lock()
			last = time.Now()
			mu.Unlock()
			stop()
		}
		return nil
	})
	start := time.Now()
	if err := c.Run(ctx); err != nil {
		fail(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return float64(n) / last.Sub(start).Seconds()
}

// typescriptWorker runs ts-worker.mjs (createThrun on @thrun/transport-redis) on a filled queue and
// reads the rate it measured itself, from its start() to its last handler.
func typescriptWorker(raw *goredis.Client, url string, n, concurrency int) float64 {
	queue := "bench-ts"
	fill(raw, queue, n)
	defer cleanup(raw, queue)
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "ts-worker.mjs")
	cmd := exec.Command("node", script, url, queue, strconv.Itoa(n), strconv.Itoa(concurrency))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fail(fmt.Errorf("the TypeScript worker failed (are the packages built? `bash scripts/pnpm.sh build`): %w", err))
	}
	var result struct{ Rate float64 }
	if err := json.Unmarshal(out, &result); err != nil {
		fail(fmt.Errorf("the TypeScript worker printed %q: %w", out, err))
	}
	return result.Rate
}
