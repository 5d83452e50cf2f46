package wire

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const repoRoot = "../../../.."

// Every embedded copy is byte-identical to the repository's file, and every repository file has a
// copy: run `go generate ./...` in sdks/go after changing schemas/ or protocol/redis/.
func TestCopiesMatchTheRepository(t *testing.T) {
	pairs := map[string]string{ // embedded glob → repository glob
		"schemas/*.json":       "schemas/*.json",
		"redis/*.lua":          "protocol/redis/*.lua",
		"redis/includes/*.lua": "protocol/redis/includes/*.lua",
	}
	for embedded, repo := range pairs {
		repoFiles, _ := filepath.Glob(filepath.Join(repoRoot, repo))
		copies, _ := fs.Glob(allFiles{}, embedded)
		if len(repoFiles) == 0 {
			t.Fatalf("no repository files match %s", repo)
		}
		var repoNames, copyNames []string
		for _, f := range repoFiles {
			repoNames = append(repoNames, filepath.Base(f))
			want, _ := os.ReadFile(f)
			got, err := allFiles{}.ReadFile(filepath.Join(filepath.Dir(embedded), filepath.Base(f)))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s drifted from the embedded copy: run `go generate ./...` in sdks/go", f)
			}
		}
		for _, c := range copies {
			copyNames = append(copyNames, filepath.Base(c))
		}
		sort.Strings(repoNames)
		sort.Strings(copyNames)
		if strings.Join(repoNames, ",") != strings.Join(copyNames, ",") {
			t.Errorf("embedded %s holds %v, the repository %v: run `go generate ./...`", embedded, copyNames, repoNames)
		}
	}
}

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

// allFiles reads both embedded file systems.
type allFiles struct{}

func (allFiles) Open(name string) (fs.File, error) {
	if name == "schemas" || strings.HasPrefix(name, "schemas/") {
		return Schemas.Open(name)
	}
	return redisFiles.Open(name)
}

func (allFiles) ReadFile(name string) ([]byte, error) {
	if strings.HasPrefix(name, "schemas/") {
		return Schemas.ReadFile(name)
	}
	return redisFiles.ReadFile(name)
}
