package upgrade

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// pendingPIDFile is a PID file written next to its final path, not yet in
// place: writing it first finds a PID file that cannot be written before
// the process says it is ready, and renaming it stays the last step (a
// SIGHUP sent the moment the PID file changes must find the process
// ready for upgrades).
type pendingPIDFile struct {
	tmp, path string
}

// preparePIDFile writes pid to a temporary file in path's directory.
func preparePIDFile(path string, pid int) (*pendingPIDFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return nil, err
	}
	p := &pendingPIDFile{tmp: tmp.Name(), path: path}
	if _, err := tmp.WriteString(strconv.Itoa(pid) + "\n"); err != nil {
		tmp.Close()
		p.discard()
		return nil, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		p.discard()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		p.discard()
		return nil, err
	}
	return p, nil
}

// commit renames the file into place: a reader sees the old pid or the
// new one, never an empty or partial file.
func (p *pendingPIDFile) commit() error {
	if err := os.Rename(p.tmp, p.path); err != nil {
		p.discard()
		return err
	}
	return nil
}

func (p *pendingPIDFile) discard() {
	if p != nil {
		os.Remove(p.tmp)
	}
}

// writePIDFile replaces path with pid atomically.
func writePIDFile(path string, pid int) error {
	p, err := preparePIDFile(path, pid)
	if err != nil {
		return err
	}
	return p.commit()
}

// removePIDFile removes path if it still names pid: after a final stop a
// PID file must not name a process that is gone, nor one that another
// process wrote since.
func removePIDFile(path string, pid int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if !bytes.Equal(bytes.TrimSpace(b), []byte(strconv.Itoa(pid))) {
		return nil
	}
	return os.Remove(path)
}
