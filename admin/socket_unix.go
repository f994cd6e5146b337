//go:build !windows

package admin

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// privateUmask makes bind create a socket file with mode 0600.
const privateUmask = 0o177

// umaskMu serializes the changes of the umask, which is process-wide.
var umaskMu sync.Mutex

// listenPrivate creates a unix socket file with mode 0600 at path,
// removing first a stale socket that a killed process left there.
func listenPrivate(network, path string, log hclog.Logger) (net.Listener, error) {
	ln, err := listenUmask(network, path)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return ln, err
	}
	if err := removeStale(network, path); err != nil {
		return nil, err
	}
	log.Warn("removed a stale admin socket that nothing answered on (left by a flipd that was killed?)", "path", path)
	return listenUmask(network, path)
}

// listenUmask listens on path with the umask set so that bind creates the
// file with mode 0600, and restores the umask right after. The umask is
// the process's: a file that another goroutine creates meanwhile gets a
// stricter mode than it asked for, never a looser one (a directory made
// then lacks its owner's search bit). The window is one bind call.
func listenUmask(network, path string) (net.Listener, error) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := unix.Umask(privateUmask)
	ln, err := net.Listen(network, path)
	unix.Umask(old)
	return ln, err
}

// removeStale removes the socket file at path if nothing answers on it
// (connect is refused). It removes nothing else: not a regular file, not
// a symlink (even to a stale socket), not a socket that answers.
func removeStale(network, path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // gone since bind failed: try again
	case err != nil:
		return fmt.Errorf("%s is in use: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s exists and is not a socket (%s): flipd removes only a stale socket; remove it or choose another admin.listen", path, kindOf(fi.Mode()))
	}
	c, err := net.DialTimeout(network, path, 2*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("another flipd is serving on %s (it accepts connections): stop it first, or choose another admin.listen", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s is in use, and connecting to it to see whether it is stale failed: %w", path, err)
	}
	if again, err := os.Lstat(path); err != nil || !os.SameFile(fi, again) {
		return fmt.Errorf("%s changed while flipd checked whether it is stale; start again", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing the stale socket %s: %w", path, err)
	}
	return nil
}

// kindOf names a file type for an error message.
func kindOf(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symlink"
	case fs.ModeNamedPipe:
		return "a named pipe"
	}
	return "of type " + m.Type().String()
}
