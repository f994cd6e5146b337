package runtime

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
// failed reload: the child may have written it before its parent gave up.
func (in *Instance) rewritePIDFile() {
	in.mu.Lock()
	path := in.pidFile
	in.mu.Unlock()
	in.writePIDFile(path)
}

// removePIDFile removes the PID file after a final stop, if it still
// names this process.
func (in *Instance) removePIDFile() {
	in.mu.Lock()
	path, final := in.pidFile, in.stopAsked && !in.handedOver
	in.mu.Unlock()
	if path == "" || !final {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil || string(bytes.TrimSpace(b)) != strconv.Itoa(os.Getpid()) {
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
