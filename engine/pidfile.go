package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// The PID file is the runtime's, not the upgrader's: a generation writes
// it once it serves, and a failure to write it (its directory removed, a
// full or read-only disk) never fails an upgrade, since the operator
// could not fix that from the API. It is logged as an error and shown in
// GET /status, and the generation serves on.

// writePIDFile writes this process's pid to path, if set, once this
// generation serves; a failure is logged and kept for Status.
func (in *Instance) writePIDFile(path string) {
	in.pidMu.Lock()
	defer in.pidMu.Unlock()
	in.writePIDFileLocked(path)
}

// writePIDFileLocked is writePIDFile; in.pidMu is held.
func (in *Instance) writePIDFileLocked(path string) {
	if path == "" {
		return
	}
	err := replaceFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"))
	in.mu.Lock()
	in.pidFile, in.pidFileErr = path, ""
	if err != nil {
		in.pidFileErr = err.Error()
	}
	in.mu.Unlock()
	if err != nil {
		in.log.Error("writing the PID file failed; serving anyway", "pid_file", path, "error", err)
	}
}

// rewritePIDFile names this generation again in the PID file after a
// failed reload: the child, failed, may have written it before its
// parent gave up. After a final stop (one that cancelled the reload,
// say) the file goes instead, if it names either: the drain may have
// looked for it already.
func (in *Instance) rewritePIDFile(failed int) {
	in.pidMu.Lock()
	defer in.pidMu.Unlock()
	path, final := in.pidFileState()
	if final {
		in.removePIDFileLocked(path, failed)
		return
	}
	in.writePIDFileLocked(path)
}

// removePIDFile removes the PID file after a final stop, if it still
// names this process.
func (in *Instance) removePIDFile() {
	in.pidMu.Lock()
	defer in.pidMu.Unlock()
	if path, final := in.pidFileState(); final {
		in.removePIDFileLocked(path)
	}
}

// pidFileState is the PID file this generation wrote, and whether it
// stops for good.
func (in *Instance) pidFileState() (path string, final bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.pidFile, in.stopAsked && !in.handedOver
}

// removePIDFileLocked removes path if it names this process, or one of
// others; in.pidMu is held.
func (in *Instance) removePIDFileLocked(path string, others ...int) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	named, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || named != os.Getpid() && !slices.Contains(others, named) {
		return
	}
	if err := os.Remove(path); err != nil {
		in.log.Warn("removing the PID file failed", "pid_file", path, "error", err)
	}
}

// replaceFile replaces path with data atomically: a reader sees the old
// content or the new, never a part.
func replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("PID file %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("PID file %s: %w", path, err)
	}
	return nil
}
