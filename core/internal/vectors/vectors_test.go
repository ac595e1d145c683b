package vectors

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLoadDecodesSharedFile(t *testing.T) {
	var file struct {
		Source string `json:"source"`
		Cases  []struct {
			Encoded string `json:"encoded"`
		} `json:"cases"`
	}
	Load(t, "spec_unpadded_base64.json", &file)
	if file.Source == "" || len(file.Cases) == 0 {
		t.Fatalf("spec_unpadded_base64.json decoded to %+v", file)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantErr string
	}{
		{"missing file", "no_such_vector_file.json", "read no_such_vector_file.json"},
		{"empty name", "", "invalid vector name"},
		{"escapes directory", "../vectors/spec_unpadded_base64.json", "invalid vector name"},
		{"absolute path", "/etc/passwd", "invalid vector name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Read(%q) error = %v, want one containing %q", tc.file, err, tc.wantErr)
			}
		})
	}
}

func TestModuleRootHasGoMod(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("moduleRoot() = %q without go.mod: %v", root, err)
	}
}

// recordingTB stands in for a test so that Load's failure path can be
// observed: Fatal records the message and ends the goroutine as the real
// one does, and Skip is counted so a skip would be caught.
type recordingTB struct {
	testing.TB
	fatal   string
	skipped bool
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Skip(...any) { r.skipped = true; runtime.Goexit() }

func (r *recordingTB) Skipf(string, ...any) { r.skipped = true; runtime.Goexit() }

func (r *recordingTB) SkipNow() { r.skipped = true; runtime.Goexit() }

func TestLoadFailsOnBadInput(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantMsg string
	}{
		{"missing file fails, never skips", "no_such_vector_file.json", "no_such_vector_file.json"},
		{"wrong JSON shape", "spec_unpadded_base64.json", "decode spec_unpadded_base64.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			var wrongShape []int
			done := make(chan struct{})
			go func() {
				defer close(done)
				Load(rec, tc.file, &wrongShape)
			}()
			<-done
			if rec.skipped {
				t.Fatal("Load skipped instead of failing")
			}
			if !strings.Contains(rec.fatal, tc.wantMsg) {
				t.Fatalf("Load fatal message = %q, want one containing %q", rec.fatal, tc.wantMsg)
			}
		})
	}
}
