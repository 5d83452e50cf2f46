// Package wire loads the repository's language-neutral wire files: the JSON Schemas of schemas/, and
// the Redis scripts of protocol/redis/ and the header names of protocol/headers.json, embedded by the modules github.com/thrun-dev/thrun/schemas and
// github.com/thrun-dev/thrun/protocol (go:embed reaches only files inside the embedding module, so
// each folder is a module of its own). Those folders are the only copies: nothing is copied here.
package wire

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"github.com/thrun-dev/thrun/protocol"
	"github.com/thrun-dev/thrun/schemas"
)

// Schemas holds every schema of schemas/, <name>.schema.json, at its root.
var Schemas = schemas.Schemas

// Schema returns the bytes of schemas/<name>.
func Schema(name string) []byte {
	data, err := Schemas.ReadFile(name)
	if err != nil {
		panic("wire: no embedded schema " + name) // a missing embedded file is a build defect
	}
	return data
}

// Script is one Redis script of protocol/redis, resolved by the rules of protocol/README.md.
type Script struct {
	Name         string
	NumberOfKeys int
	Source       string
}

var scriptFile = regexp.MustCompile(`^([a-z]+(?:-[a-z]+)*)-(\d+)\.lua$`)
var includeLine = regexp.MustCompile(`(?m)^--- @include ([a-z0-9-]+)$`)

// RedisScript returns the resolved script of protocol/redis/<file>, e.g. "list-fetch-6.lua".
func RedisScript(file string) Script {
	match := scriptFile.FindStringSubmatch(file)
	if match == nil {
		panic("wire: not a script file name " + file)
	}
	keys, _ := strconv.Atoi(match[2])
	source, err := resolve(protocol.Redis, "redis/"+file, nil)
	if err != nil {
		panic(err.Error())
	}
	return Script{Name: match[1], NumberOfKeys: keys, Source: strings.TrimSuffix(source, "\n")}
}

// resolve returns the text after a file's header with its include lines replaced.
func resolve(files fs.FS, path string, stack []string) (string, error) {
	data, err := fs.ReadFile(files, path)
	if err != nil {
		return "", fmt.Errorf("wire: no embedded protocol/%s", path)
	}
	text := string(data)
	if !strings.HasPrefix(text, "--[[\n") {
		return "", fmt.Errorf("wire: %s must start with a --[[ header line", path)
	}
	end := strings.Index(text, "\n]]\n")
	if end < 0 || strings.Index(text, "]]") != end+1 {
		return "", fmt.Errorf("wire: %s: the header's first ]] must be a line of its own", path)
	}
	body := text[end+4:]
	var failure error
	body = includeLine.ReplaceAllStringFunc(body, func(line string) string {
		name := includeLine.FindStringSubmatch(line)[1]
		for _, seen := range stack {
			if seen == name {
				failure = fmt.Errorf("wire: include cycle through %s", name)
				return line
			}
		}
		included, err := resolve(files, "redis/includes/"+name+".lua", append(stack, name))
		if err != nil {
			failure = err
		}
		return strings.TrimSuffix(included, "\n") // the include line's own newline stays
	})
	return body, failure
}

// HeaderNames returns the wire names of one section of protocol/headers.json ("deadLetter",
// "rabbitmq", "kafka", "redis"), by constant name: {"attempt": "thrun-attempt", …}. The Redis
// section lists entry fields rather than headers.
func HeaderNames(section string) map[string]string {
	var file map[string]json.RawMessage
	if err := json.Unmarshal(protocol.Headers, &file); err != nil {
		panic("wire: protocol/headers.json: " + err.Error())
	}
	var entries struct {
		Headers      map[string]struct{ Name string }
		StreamFields map[string]struct{ Name string }
	}
	if err := json.Unmarshal(file[section], &entries); err != nil || entries.Headers == nil && entries.StreamFields == nil {
		panic("wire: protocol/headers.json has no header section " + section)
	}
	names := map[string]string{}
	for key, entry := range entries.Headers {
		names[key] = entry.Name
	}
	for key, entry := range entries.StreamFields {
		names[key] = entry.Name
	}
	return names
}
