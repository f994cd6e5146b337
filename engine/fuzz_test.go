package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/internal/modstate"
)

// FuzzParseConfig feeds the config decoder anything: it must not panic,
// must refuse with a *ConfigError, and what it accepts must be a JSON
// object without duplicate keys, negative durations or unknown levels.
// Seeds: the examples, and each kind of config it must refuse.
func FuzzParseConfig(f *testing.F) {
	examples, _ := filepath.Glob("../examples/*.json")
	for _, name := range examples {
		if raw, err := os.ReadFile(name); err == nil {
			f.Add(raw)
		}
	}
	for _, s := range []string{
		`null`, `[]`, `{}`, `"x"`, `{"upgrade": {"drain_timeout": -1}}`, `{"upgrade": {"timeout": "-1s"}}`,
		`{"upgrade": {"drain_timeout": "1s", "drain_timeout": "1h"}}`, `{"upgrade": {"Drain_Timeout": "1h"}}`,
		`{"logging": {"level": "verbose"}}`, `{"listeners": {"a": {"address": "tcp4/127.0.0.1:80", "module": "x"}, "b": {"address": "tcp/127.0.0.1:80", "module": "x"}}}`,
		`{"listeners": {"a": {"address": "tcp/localhost:80", "module": "x"}, "b": {"address": "tcp/0.0.0.0:80", "module": "x"}}}`,
		`{"listeners": {"a": {"address": "unix//x", "module": "x", "address": "unix//y"}}}`,
		`{"admin": {"listen": "unix/@name"}}`, `{"admin": {"max_body_bytes": -1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := ParseConfig(raw)
		if err != nil {
			var ce *flipd.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is a %T, not a *ConfigError", err, err)
			}
			return
		}
		trimmed := bytes.TrimSpace(raw)
		if !json.Valid(trimmed) || trimmed[0] != '{' {
			t.Fatalf("accepted something other than a JSON object: %q", raw)
		}
		if cfg.Upgrade.Timeout < 0 || cfg.Upgrade.DrainTimeout < 0 || cfg.Upgrade.MaxDraining < 0 {
			t.Fatalf("accepted a negative bound: %+v", cfg.Upgrade)
		}
		if err := modstate.CheckKeys(trimmed); err != nil {
			t.Fatalf("accepted a config with a duplicate key: %v", err)
		}
		switch cfg.Logging.Level {
		case "", "trace", "debug", "info", "warn", "error":
		default:
			t.Fatalf("accepted logging.level %q", cfg.Logging.Level)
		}
	})
}
