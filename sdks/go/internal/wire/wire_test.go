package wire

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/thrun-dev/thrun/protocol"
)

func TestRedisScriptResolvesIncludes(t *testing.T) {
	s := RedisScript("list-fetch-6.lua")
	if s.Name != "list-fetch" || s.NumberOfKeys != 6 {
		t.Fatalf("got %s/%d", s.Name, s.NumberOfKeys)
	}
	if strings.Contains(s.Source, "@include") || !strings.Contains(s.Source, "local now = ") || strings.HasSuffix(s.Source, "\n") {
		t.Fatalf("includes not resolved or final newline kept:\n%s", s.Source[:200])
	}
	if strings.Contains(s.Source, "list-fetch:") {
		t.Fatal("header kept")
	}
}

func TestIncludeCycleIsAnError(t *testing.T) {
	files := fstest.MapFS{
		"redis/loop-1.lua":       {Data: []byte("--[[\nloop\n]]\n--- @include a\n")},
		"redis/includes/a.lua":   {Data: []byte("--[[\na\n]]\n--- @include b\n")},
		"redis/includes/b.lua":   {Data: []byte("--[[\nb\n]]\n--- @include a\n")},
		"redis/missing-1.lua":    {Data: []byte("--[[\nmissing\n]]\n--- @include nowhere\n")},
		"redis/no-header-1.lua":  {Data: []byte("return 1\n")},
		"redis/bad-header-1.lua": {Data: []byte("--[[\n]] x\n]]\nreturn 1\n")},
	}
	for file, want := range map[string]string{
		"loop-1.lua":       "include cycle through a",
		"missing-1.lua":    "no embedded protocol/redis/includes/nowhere.lua",
		"no-header-1.lua":  "must start with a --[[ header line",
		"bad-header-1.lua": "the header's first ]] must be a line of its own",
	} {
		if _, err := resolve(files, "redis/"+file, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", file, err, want)
		}
	}
}

// Go resolves every script of protocol/redis to exactly the text (hence the EVALSHA digest) that the
// TypeScript reference resolver, packages/transport-redis/scripts/lua.mjs, gives the TypeScript
// transport; both read the one copy of the files, and no script is missing on either side.
func TestScriptsMatchTheReferenceResolver(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is needed to run the reference resolver")
	}
	resolver, err := filepath.Abs("../../../../packages/transport-redis/scripts/lua.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(resolver); err != nil {
		t.Fatalf("the reference resolver is missing: %v", err)
	}
	program := `const { readScripts } = await import(process.argv[1]);
process.stdout.write(JSON.stringify(readScripts().map(({ file, name, numberOfKeys, source }) => ({ file, name, numberOfKeys, source }))));`
	out, err := exec.Command("node", "--input-type=module", "-e", program, resolver).Output()
	if err != nil {
		t.Fatalf("reference resolver: %v", err)
	}
	var reference []struct {
		File, Name, Source string
		NumberOfKeys       int
	}
	if err := json.Unmarshal(out, &reference); err != nil {
		t.Fatal(err)
	}
	embedded, err := fs.Glob(protocol.Redis, "redis/*.lua")
	if err != nil || len(embedded) == 0 {
		t.Fatalf("no embedded scripts (%v)", err)
	}
	if len(embedded) != len(reference) {
		t.Errorf("embedded %d scripts, the reference resolver read %d", len(embedded), len(reference))
	}
	for _, want := range reference {
		got := RedisScript(want.File)
		if got.Name != want.Name || got.NumberOfKeys != want.NumberOfKeys || got.Source != want.Source {
			t.Errorf("%s: Go resolves %s/%d (%d bytes), the reference %s/%d (%d bytes)", want.File,
				got.Name, got.NumberOfKeys, len(got.Source), want.Name, want.NumberOfKeys, len(want.Source))
		}
	}
}

func TestEverySchemaIsEmbedded(t *testing.T) {
	names, _ := fs.Glob(Schemas, "*.schema.json")
	for _, want := range []string{"envelope.schema.json", "dead-letter.schema.json", "batch-step-report.schema.json"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("%s not embedded (got %v)", want, names)
		}
		var doc map[string]any
		if err := json.Unmarshal(Schema(want), &doc); err != nil || doc["$id"] != "https://thrun.dev/schemas/"+want {
			t.Errorf("%s: not the schema (%v)", want, err)
		}
	}
}
