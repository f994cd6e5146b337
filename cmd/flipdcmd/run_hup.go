package flipdcmd

import (
	"os"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/runtime"
)

// hupReloads turns SIGHUPs into reloads of the config file, one at a time.
// A reload runs in its own goroutine, so that a stop signal that comes
// meanwhile is seen at once, and wins (Instance.Stop). A SIGHUP during a
// reload is queued, with a log line, and applies once the reload ends: in
// this generation if the reload failed, else in the new generation, which
// this one signals (it caught SIGHUP before it started serving). Several
// SIGHUPs during one reload make one more reload, as they would one after
// the other: each re-reads the same file.
type hupReloads struct {
	in   *runtime.Instance
	log  hclog.Logger
	file string
	done chan int // the new generation's pid after a reload, 0 if it failed

	running, queued, stopping bool
}

func newHupReloads(in *runtime.Instance, file string) *hupReloads {
	return &hupReloads{in: in, log: in.Logger(), file: file, done: make(chan int, 1)}
}

// signal handles one SIGHUP.
func (h *hupReloads) signal() {
	switch {
	case h.running && h.queued:
		h.log.Info("SIGHUP during a reload: one is already queued; it re-reads the config file once this reload ends")
	case h.running:
		h.log.Info("SIGHUP during a reload: queued; it re-reads the config file once this reload ends")
		h.queued = true
	default:
		h.start()
	}
}

func (h *hupReloads) start() {
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
		res, err := h.in.Reload(raw, runtime.ReloadOptions{Source: "file:" + h.file})
		if err != nil {
			res.Pid = 0
		}
		h.done <- res.Pid
	}()
}

// finished is called with what h.done said, once a reload ended.
func (h *hupReloads) finished(newPid int) {
	h.running = false
	if !h.queued {
		return
	}
	h.queued = false
	switch {
	case h.stopping:
		h.log.Warn("SIGHUP queued during the reload not applied: stopping")
	case newPid == 0:
		h.log.Info("reloading for the SIGHUP queued during the reload that failed")
		h.start()
	default:
		h.log.Info("passing the SIGHUP queued during the reload on to the new generation", "new_pid", newPid)
		p, err := os.FindProcess(newPid)
		if err == nil {
			err = p.Signal(syscall.SIGHUP)
		}
		if err != nil {
			h.log.Error("passing the queued SIGHUP on to the new generation failed: send SIGHUP again", "new_pid", newPid, "error", err)
		}
	}
}
