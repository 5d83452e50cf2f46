package thrun

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The codec's default limits, the same in every runtime (see schemas/vectors/codec).
const (
	DefaultMaxBytes = 1 << 20
	DefaultMaxDepth = 64
)

// CodecError is a named reason why bytes are not a safe envelope; Code is the contract's error code
// (payload_too_large, invalid_utf8, invalid_json, duplicate_key, forbidden_key, too_deep,
// unsafe_integer, schema_violation).
type CodecError struct {
	Code    string
	Message string
}

func (e *CodecError) Error() string { return e.Code + ": " + e.Message }

// Decode is the safe codec: bytes from outside become a validated envelope, with limits checked
// before parsing, and nothing that one runtime would read differently from another let through
// (duplicate keys, __proto__, integers a double cannot hold, lone surrogates).
// Numbers come back as json.Number.
func (v *Validator) Decode(data []byte) (map[string]any, error) {
	return v.DecodeLimited(data, DefaultMaxBytes)
}

// DecodeLimited is Decode with another size limit than DefaultMaxBytes.
func (v *Validator) DecodeLimited(data []byte, maxBytes int) (map[string]any, error) {
	if len(data) > maxBytes {
		return nil, &CodecError{"payload_too_large", fmt.Sprintf("message of %d bytes exceeds the limit of %d", len(data), maxBytes)}
	}
	if !utf8.Valid(data) {
		return nil, &CodecError{"invalid_utf8", "message is not valid UTF-8"}
	}
	p := &parser{data: data, maxDepth: DefaultMaxDepth}
	p.space()
	value, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, p.fail("unexpected data after the JSON value")
	}
	if err := v.schema.Validate(value); err != nil {
		return nil, &CodecError{"schema_violation", err.Error()}
	}
	return value.(map[string]any), nil
}

type parser struct {
	data     []byte
	pos      int
	maxDepth int
}

func (p *parser) fail(message string) *CodecError {
	return &CodecError{"invalid_json", fmt.Sprintf("%s at byte %d", message, p.pos)}
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, error) {
	if p.pos >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		for _, literal := range []struct {
			text  string
			value any
		}{{"true", true}, {"false", false}, {"null", nil}} {
			if bytes.HasPrefix(p.data[p.pos:], []byte(literal.text)) {
				p.pos += len(literal.text)
				return literal.value, nil
			}
		}
		return nil, p.fail("unexpected character")
	}
}

func (p *parser) object(depth int) (any, error) {
	if depth > p.maxDepth {
		return nil, &CodecError{"too_deep", fmt.Sprintf("nesting deeper than %d levels", p.maxDepth)}
	}
	p.pos++ // {
	object := map[string]any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return object, nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail("expected a string key")
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		if key == "__proto__" {
			return nil, &CodecError{"forbidden_key", "the key __proto__ is not allowed"}
		}
		if _, seen := object[key]; seen {
			return nil, &CodecError{"duplicate_key", fmt.Sprintf("duplicate key %q", key)}
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail("expected ':'")
		}
		p.pos++
		p.space()
		value, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		object[key] = value
		if done, err := p.separator('}'); err != nil || done {
			return object, err
		}
	}
}

func (p *parser) array(depth int) (any, error) {
	if depth > p.maxDepth {
		return nil, &CodecError{"too_deep", fmt.Sprintf("nesting deeper than %d levels", p.maxDepth)}
	}
	p.pos++ // [
	array := []any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return array, nil
	}
	for {
		p.space()
		value, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		array = append(array, value)
		if done, err := p.separator(']'); err != nil || done {
			return array, err
		}
	}
}

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.fail("short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, p.fail("bad \\u escape")
	}
	p.pos += 4
	return rune(n), nil
}

func (p *parser) string() (string, error) {
	p.pos++ // "
	var out []byte
	for {
		if p.pos >= len(p.data) {
			return "", p.fail("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(out), nil
		case c < 0x20:
			return "", p.fail("control character in a string")
		case c != '\\':
			out = append(out, c)
			p.pos++
			continue
		}
		p.pos++ // backslash
		if p.pos >= len(p.data) {
			return "", p.fail("unterminated escape")
		}
		e := p.data[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by an escaped low one makes a character.
				if r >= 0xDC00 || !bytes.HasPrefix(p.data[p.pos:], []byte(`\u`)) {
					return "", p.fail("lone surrogate escape")
				}
				p.pos += 2
				low, err := p.hex4()
				if err != nil {
					return "", err
				}
				if low < 0xDC00 || low > 0xDFFF {
					return "", p.fail("lone surrogate escape")
				}
				r = utf16.DecodeRune(r, low)
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", p.fail("unknown escape")
		}
	}
}

const maxSafeInteger = 1<<53 - 1

func (p *parser) number() (any, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return nil, p.fail("bad number")
	}
	integer := true
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		integer = false
		if digits() == 0 {
			return nil, p.fail("bad fraction")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		integer = false
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.fail("bad exponent")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'x' || p.data[p.pos] == 'X' || (p.data[p.pos] >= '0' && p.data[p.pos] <= '9')) {
		return nil, p.fail("bad number")
	}
	text := string(p.data[start:p.pos])
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, &CodecError{"unsafe_integer", fmt.Sprintf("%s does not fit a double", text)}
	}
	if integer {
		if n, err := strconv.ParseInt(text, 10, 64); err != nil || n > maxSafeInteger || n < -maxSafeInteger {
			return nil, &CodecError{"unsafe_integer", fmt.Sprintf("%s is beyond ±(2^53−1): send it as a string", text)}
		}
	}
	return json.Number(text), nil
}

// separator reads what follows a member or an element: ',' (more to come) or the closing bracket (done).
func (p *parser) separator(closing byte) (done bool, err error) {
	p.space()
	if p.pos >= len(p.data) {
		return false, p.fail("unexpected end of input")
	}
	switch p.data[p.pos] {
	case ',':
		p.pos++
		return false, nil
	case closing:
		p.pos++
		return true, nil
	default:
		return false, p.fail(fmt.Sprintf("expected ',' or '%c'", closing))
	}
}
