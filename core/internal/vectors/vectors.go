// Package vectors loads the shared Matrix protocol test vectors for tests.
//
// The vector files live outside the repository, in ../shared/vectors/
// relative to the module root (the directory holding go.mod), so that every
// package tests against one copy instead of private snapshots that could
// drift. This package is for tests only: it reads files, which the rest of
// core must never do.
package vectors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Dir is the vector directory's path relative to the module root.
const Dir = "../shared/vectors"

// Load reads the vector file name from the shared vector directory and
// decodes its JSON into v. Any failure (no module root, a missing or
// unreadable file, bad JSON) fails the test with t.Fatal: a vector that
// cannot be read must never turn into a silently skipped test.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	data, err := Read(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("vectors: decode %s: %v", name, err)
	}
}

// Read returns the raw bytes of the vector file name, for tests that need
// the exact text (for example to keep number spellings) rather than a
// decoded value.
func Read(name string) ([]byte, error) {
	if name == "" || filepath.IsAbs(name) || !filepath.IsLocal(name) {
		return nil, fmt.Errorf("vectors: invalid vector name %q", name)
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, filepath.FromSlash(Dir), name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vectors: read %s: %w", name, err)
	}
	return data, nil
}

// moduleRoot walks up from the working directory to the first directory
// that contains go.mod.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("vectors: working directory: %w", err)
	}
	for dir := wd; ; {
		_, err := os.Stat(filepath.Join(dir, "go.mod"))
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("vectors: look for go.mod in %s: %w", dir, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("vectors: no go.mod in %s or any parent directory", wd)
		}
		dir = parent
	}
}
