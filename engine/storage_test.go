package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkStorage says a save would fail without touching the saved config,
// and leaves no file behind either way.
func TestCheckStorageProbesWithoutReplacingTheSavedConfig(t *testing.T) {
	dir := t.TempDir()
	if err := SaveLastConfig(dir, []byte(`{"one": 1}`)); err != nil {
		t.Fatal(err)
	}
	if err := checkStorage(dir, []byte(`{"two": 2}`)); err != nil {
		t.Fatalf("checkStorage on a writable directory: %v", err)
	}
	if b, _ := LoadLastConfig(dir); string(b) != `{"one": 1}` {
		t.Fatalf("checkStorage replaced the saved config: %s", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Fatalf("checkStorage left %v", left)
	}
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, nil, 0o600)
	if err := checkStorage(filepath.Join(file, "storage"), []byte(`{}`)); err == nil || !strings.HasPrefix(err.Error(), "saving config: ") {
		t.Fatalf("checkStorage under a file: %v, want a \"saving config\" error", err)
	}
}
