package thrun

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/thrun-dev/thrun/schemas"
)

type codecFile struct {
	Description string `json:"description"`
	Cases       []struct {
		Description string  `json:"description"`
		Input       *string `json:"input"`
		InputBase64 *string `json:"input_base64"`
		InputRepeat *struct {
			Prefix string `json:"prefix"`
			Repeat string `json:"repeat"`
			Count  int    `json:"count"`
			Suffix string `json:"suffix"`
		} `json:"input_repeat"`
		Expect struct {
			Envelope json.RawMessage `json:"envelope"`
			Error    string          `json:"error"`
		} `json:"expect"`
	} `json:"cases"`
}

// Every codec vector file: bytes in, the decoded envelope or the named error out.
func TestCodecVectors(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(schemas.Vectors, "vectors/codec/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files in schemas/vectors/codec (%v)", err)
	}
	cases := 0
	for _, file := range files {
		raw, err := fs.ReadFile(schemas.Vectors, file)
		if err != nil {
			t.Fatal(err)
		}
		var vectors codecFile
		if err := json.Unmarshal(raw, &vectors); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, c := range vectors.Cases {
			cases++
			t.Run(path.Base(file)+"/"+c.Description, func(t *testing.T) {
				var input []byte
				switch {
				case c.Input != nil:
					input = []byte(*c.Input)
				case c.InputBase64 != nil:
					input, err = base64.StdEncoding.DecodeString(*c.InputBase64)
					if err != nil {
						t.Fatal(err)
					}
				case c.InputRepeat != nil:
					r := c.InputRepeat
					input = []byte(r.Prefix + strings.Repeat(r.Repeat, r.Count) + r.Suffix)
				default:
					t.Fatal("case without input")
				}
				got, err := v.Decode(input)
				if c.Expect.Error != "" {
					var codecErr *CodecError
					if !errors.As(err, &codecErr) || codecErr.Code != c.Expect.Error {
						t.Fatalf("want error %s, got %v", c.Expect.Error, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("want an envelope, got %v", err)
				}
				var want any
				decoder := json.NewDecoder(strings.NewReader(string(c.Expect.Envelope)))
				decoder.UseNumber()
				if err := decoder.Decode(&want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(normalize(got), normalize(want)) {
					t.Fatalf("decoded\n  %#v\nwant\n  %#v", got, want)
				}
			})
		}
	}
	t.Logf("%d codec cases from %d files", cases, len(files))
}

// normalize compares numbers by value (1e3 and 1000 are the same number).
func normalize(value any) any {
	switch v := value.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	case json.Number:
		f, _ := v.Float64()
		return f
	default:
		return v
	}
}
