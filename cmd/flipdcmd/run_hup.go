package flipdcmd

import (
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/engine"
)

// hupReloads turns SIGHUPs into reloads of the config file, one at a time.
// A reload runs in its own goroutine, so that a stop signal that comes
// meanwhile is seen at once, and wins (Instance.Stop).
//
// A SIGHUP during a reload is refused, with a log line that says so, as
// upgrade refuses a second upgrade (ErrUpgradeInProgress). It is
// not queued: once the reload succeeds this generation no longer serves,
// and a reload it started later would be refused anyway, or would replay a
// stale request after the operator already sent the next one to the new
// generation.
type hupReloads struct {
	in      *engine.Instance
	log     hclog.Logger
	file    string
	done    chan struct{} // a reload ended
	running bool
}

func newHupReloads(in *engine.Instance, file string) *hupReloads {
	return &hupReloads{in: in, log: in.Logger(), file: file, done: make(chan struct{}, 1)}
}

// signal handles one SIGHUP.
func (h *hupReloads) signal() {
	if h.running {
		h.log.Warn("SIGHUP during a reload refused: send it again once the new generation serves")
		return
	}
	if h.file == "" {
		h.log.Warn("SIGHUP: no --config file to re-read; use the admin API to load a config")
		return
	}
	raw, err := os.ReadFile(h.file)
	if err != nil {
		h.log.Error("SIGHUP: reading config", "error", err)
		return
	}
	h.running = true
	go func() {
		// Reload logs its outcome; the old generation keeps serving
		// whatever happens.
		h.in.Reload(raw, engine.ReloadOptions{Source: "file:" + h.file})
		h.done <- struct{}{}
	}()
}

// finished is called once h.done says a reload ended.
func (h *hupReloads) finished() { h.running = false }
