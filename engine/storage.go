package engine

import (
	"fmt"
	"os"
	"path/filepath"
)

// storageDir is the config's storage directory, or the default one.
func storageDir(cfg *Config) string {
	if cfg != nil && cfg.Storage.Dir != "" {
		return cfg.Storage.Dir
	}
	return DefaultStorageDir()
}

// DefaultStorageDir is $XDG_DATA_HOME/flipd, or ~/.local/share/flipd.
func DefaultStorageDir() string {
	if dir := os.Getenv("XDG_DATA_HOME"); dir != "" {
		return filepath.Join(dir, "flipd")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "flipd")
	}
	return filepath.Join(os.TempDir(), "flipd")
}

// lastConfigFile holds the last config a generation became ready with.
const lastConfigFile = "last-config.json"

// SaveLastConfig writes raw as the last good config in dir, atomically and
// readable by the owner only (configs may hold secrets).
func SaveLastConfig(dir string, raw []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+lastConfigFile+".*")
	if err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("saving config: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("saving config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, lastConfigFile)); err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	return nil
}

// LoadLastConfig reads the last good config saved in dir.
func LoadLastConfig(dir string) ([]byte, error) {
	return os.ReadFile(filepath.Join(dir, lastConfigFile))
}

// checkStorage tells whether raw could be saved in dir now, without
// replacing the saved config: it writes a temporary file and removes it.
// The new generation saves the config once it serves, after its parent
// has answered the reload; this lets the answer say that the save will
// fail (a full disk, a read-only directory).
func checkStorage(dir string, raw []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+lastConfigFile+".*")
	if err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(raw)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	return nil
}
