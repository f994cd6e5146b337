package upgrade

import "os"

// closeInherited closes what the parent passed and nobody claimed; the
// socket files of unclaimed unix listeners are removed, since no
// generation serves them any more.
func (f *Fds) closeInherited() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, e := range f.inherited {
		if !e.claimed {
			unlinkUnixSocket(key.unixSocketPath())
			e.close()
			delete(f.inherited, key)
		}
	}
}

// Which unix socket files closeUsed removes.
type unlinkMode int

const (
	unlinkNone    unlinkMode = iota // a handover: the next generation serves them
	unlinkCreated                   // a failed new generation: only those it created
	unlinkAll                       // a final stop
)

// closeUsed closes this generation's copies; after a handover the sockets
// live on in the new generation.
func (f *Fds) closeUsed(mode unlinkMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, e := range f.used {
		if mode == unlinkAll || mode == unlinkCreated && e.created {
			unlinkUnixSocket(key.unixSocketPath())
		}
		e.close()
	}
	for key, e := range f.inherited {
		if !e.claimed {
			continue
		}
		if mode == unlinkAll {
			unlinkUnixSocket(key.unixSocketPath())
		}
		e.close()
		delete(f.inherited, key)
	}
	f.used = make(map[fdKey]*entry)
}

// stopAccepting closes the listeners and packet conns handed to callers,
// so that their Accept and ReadFrom return errors; connections already
// accepted go on. The kernel sockets live on in the parent.
func (f *Fds) stopAccepting() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.handed {
		c.Close()
	}
	f.handed = nil
}

func unlinkUnixSocket(path string) {
	if path == "" {
		return
	}
	if info, err := os.Lstat(path); err == nil && info.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
}
