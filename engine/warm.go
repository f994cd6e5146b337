package engine

import (
	"encoding/json"

	"github.com/flipd/flipd"
)

// A new process decodes its first config slowly: encoding/json builds
// what it knows of each type on first use, and the code runs cold. A
// new generation spends its first moments waiting for the handshake from
// the previous one; warmUp, run beside that wait, decodes a small payload
// and config and every registered module's type meanwhile, so that the
// real ones decode warm. It touches no socket, file or module state.
func warmUp() {
	var p payload
	_ = json.Unmarshal(warmPayload, &p)
	_, _ = ParseConfig(warmConfig)
	for _, id := range flipd.Modules() {
		if info, err := flipd.GetModule(id); err == nil {
			_ = flipd.DecodeStrict(json.RawMessage(`{}`), info.New())
		}
	}
}

var (
	// The stats as a generation passes them on after some reloads: the
	// history and histograms are most of a payload's decoding.
	warmPayload = []byte(`{"version": 1, "config": "e30=", "source": "api", "requested": "2026-01-01T00:00:00Z",
		"sent": "2026-01-01T00:00:00.001Z", "stats": {"upgrades": {"ok": 1}, "moved_conns": 1,
		"upgrade_seconds": {"count": 1, "sum": 0.01, "buckets": [0, 1], "bounds": [0.005, 0.01]},
		"drain_seconds": {"count": 1, "sum": 0.01, "buckets": [0, 1], "bounds": [0.005, 0.01]},
		"history": [{"from": 1, "to": 2, "pid": 3, "result": "failed", "error": "e", "source": "api",
			"started": "2026-01-01T00:00:00Z", "duration": "1ms"}]}, "state": {"k": "e30="}}`)
	warmConfig = []byte(`{"admin": {"listen": "127.0.0.1:1"}, "storage": {"dir": "/nonexistent"},
		"upgrade": {"timeout": "1s", "drain_timeout": "1s", "max_draining": 1}, "logging": {"level": "info"},
		"listeners": {"w": {"address": "tcp/127.0.0.1:1", "module": "m", "wrappers": [{"module": "w"}]}}}`)
)
