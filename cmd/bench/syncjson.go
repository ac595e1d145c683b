package main

import (
	"encoding/json"
	"errors"
	"fmt"
)

// parseSync reads the parts of a /sync answer the benchmark needs: it
// returns next_batch and calls visit with the content.bench_id of every
// timeline event of every joined room that has one (a slice of body, or of
// a copy when the string has escapes), in the order of the answer.
//
// It walks the JSON without building anything of what it skips, which
// costs the reader a fraction of what encoding/json's decoding into a
// struct of the same few fields does (see BenchmarkParseSync). A field of
// an unexpected type is skipped rather than an error.
func parseSync(body []byte, visit func(benchID []byte)) (nextBatch string, err error) {
	path := [...]string{"join", "*", "timeline", "events", "[]", "content", "bench_id"}
	w := jsonWalker{b: body}
	if w.peek() != '{' {
		return "", w.syntaxError()
	}
	w.i++
	for n := 0; ; n++ {
		key, more, err := w.member(n)
		if err != nil {
			return "", err
		}
		if !more {
			break
		}
		switch string(key) {
		case "next_batch":
			err = w.find(nil, func(v []byte) { nextBatch = string(v) })
		case "rooms":
			err = w.find(path[:], visit)
		default:
			err = w.skip()
		}
		if err != nil {
			return "", err
		}
	}
	if w.peek() != 0 || w.i != len(w.b) {
		return "", fmt.Errorf("sync answer: data after the JSON object at offset %d", w.i)
	}
	return nextBatch, nil
}

// jsonWalker reads JSON text in place, one value at a time.
type jsonWalker struct {
	b     []byte
	i     int // offset of the next byte to read
	depth int // objects and arrays open
}

// maxJSONDepth bounds the nesting of objects and arrays, as encoding/json's
// does.
const maxJSONDepth = 10000

func (w *jsonWalker) syntaxError() error {
	if w.i >= len(w.b) {
		return errors.New("sync answer: unexpected end of JSON")
	}
	return fmt.Errorf("sync answer: invalid JSON at offset %d (%q)", w.i, w.b[w.i])
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (w *jsonWalker) peek() byte {
	for ; w.i < len(w.b); w.i++ {
		switch c := w.b[w.i]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// find reads a value and calls visit with every string found at path in
// it, where "*" stands for any member of an object and "[]" for any
// element of an array.
func (w *jsonWalker) find(path []string, visit func([]byte)) error {
	if len(path) == 0 {
		if w.peek() != '"' {
			return w.skip()
		}
		v, err := w.str()
		if err != nil {
			return err
		}
		visit(v)
		return nil
	}
	c := w.peek()
	if path[0] == "[]" {
		if c != '[' {
			return w.skip()
		}
		if err := w.enter(); err != nil {
			return err
		}
		for n := 0; ; n++ {
			more, err := w.element(n)
			if err != nil || !more {
				w.depth--
				return err
			}
			if err := w.find(path[1:], visit); err != nil {
				return err
			}
		}
	}
	if c != '{' {
		return w.skip()
	}
	if err := w.enter(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		key, more, err := w.member(n)
		if err != nil || !more {
			w.depth--
			return err
		}
		if path[0] == "*" || string(key) == path[0] {
			err = w.find(path[1:], visit)
		} else {
			err = w.skip()
		}
		if err != nil {
			return err
		}
	}
}

// skip reads a value.
func (w *jsonWalker) skip() error {
	switch c := w.peek(); {
	case c == '"':
		_, _, err := w.rawStr()
		return err
	case c == '{':
		if err := w.enter(); err != nil {
			return err
		}
		for n := 0; ; n++ {
			_, more, err := w.member(n)
			if err != nil || !more {
				w.depth--
				return err
			}
			if err := w.skip(); err != nil {
				return err
			}
		}
	case c == '[':
		if err := w.enter(); err != nil {
			return err
		}
		for n := 0; ; n++ {
			more, err := w.element(n)
			if err != nil || !more {
				w.depth--
				return err
			}
			if err := w.skip(); err != nil {
				return err
			}
		}
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	case c == '-' || isDigit(c):
		start := w.i
		for w.i < len(w.b) {
			switch c := w.b[w.i]; {
			case isDigit(c), c == '-', c == '+', c == '.', c == 'e', c == 'E':
				w.i++
				continue
			}
			break
		}
		if w.i == start+1 && c == '-' {
			return w.syntaxError()
		}
		return nil
	}
	return w.syntaxError()
}

// enter reads the '{' or '[' that opens an object or an array.
func (w *jsonWalker) enter() error {
	if w.depth == maxJSONDepth {
		return fmt.Errorf("sync answer: JSON nested deeper than %d", maxJSONDepth)
	}
	w.depth++
	w.i++
	return nil
}

func (w *jsonWalker) literal(lit string) error {
	if len(w.b)-w.i < len(lit) || string(w.b[w.i:w.i+len(lit)]) != lit {
		return w.syntaxError()
	}
	w.i += len(lit)
	return nil
}

// member reads up to the value of the object's member after the n already
// read, and returns its key; at the end of the object it reads the '}'
// and returns false.
func (w *jsonWalker) member(n int) (key []byte, more bool, err error) {
	switch c := w.peek(); {
	case c == '}':
		w.i++
		return nil, false, nil
	case n > 0 && c != ',':
		return nil, false, w.syntaxError()
	case n > 0:
		w.i++
	}
	if key, err = w.str(); err != nil {
		return nil, false, err
	}
	if w.peek() != ':' {
		return nil, false, w.syntaxError()
	}
	w.i++
	return key, true, nil
}

// element moves to the array's element after the n already read; at the
// end of the array it reads the ']' and returns false.
func (w *jsonWalker) element(n int) (more bool, err error) {
	switch c := w.peek(); {
	case c == ']':
		w.i++
		return false, nil
	case n > 0 && c != ',':
		return false, w.syntaxError()
	case n > 0:
		w.i++
	}
	return true, nil
}

// str reads a string and returns its contents: a slice of the text when
// it has no escapes, otherwise a decoded copy.
func (w *jsonWalker) str() ([]byte, error) {
	start := w.i
	raw, escaped, err := w.rawStr()
	if err != nil || !escaped {
		return raw, err
	}
	var s string
	if err := json.Unmarshal(w.b[start:w.i], &s); err != nil {
		return nil, fmt.Errorf("sync answer: string at offset %d: %w", start, err)
	}
	return []byte(s), nil
}

// rawStr reads a string and returns the text between its quotes and
// whether it has escapes.
func (w *jsonWalker) rawStr() (raw []byte, escaped bool, err error) {
	if w.peek() != '"' {
		return nil, false, w.syntaxError()
	}
	start := w.i + 1
	for i := start; i < len(w.b); i++ {
		switch c := w.b[i]; {
		case c == '"':
			w.i = i + 1
			return w.b[start:i], escaped, nil
		case c == '\\':
			escaped = true
			i++
		case c < ' ':
			w.i = i
			return nil, false, w.syntaxError()
		}
	}
	w.i = len(w.b)
	return nil, false, w.syntaxError()
}
