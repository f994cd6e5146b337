//go:build !windows

package admin

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/engine"
)

// socketServer is a Server for a unix admin socket at path, whose logs
// go to the returned buffer.
func socketServer(t *testing.T, path string) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s, err := New(newFake(), engine.AdminConfig{Listen: "unix/" + path}, hclog.New(&hclog.LoggerOptions{Output: logs}))
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// leaveStaleSocket leaves a socket file at path that nothing listens on,
// as a process killed with SIGKILL does.
func leaveStaleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestUnixSocketIsPrivateFromCreationWhateverTheUmask(t *testing.T) {
	old := unix.Umask(0)
	defer unix.Umask(old)
	path := filepath.Join(t.TempDir(), "admin.sock")
	s, _ := socketServer(t, path)
	ln, err := s.OpenListener("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket created with mode %v under umask 0, want a socket with mode 0600", fi.Mode())
	}
	if got := unix.Umask(0); got != 0 {
		t.Fatalf("the umask is %#o after listening, want the process's own 0 restored", got)
	}
}

func TestStaleUnixSocketIsRemovedWithAWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	leaveStaleSocket(t, path)
	s, logs := socketServer(t, path)
	ln, err := s.OpenListener("unix", path)
	if err != nil {
		t.Fatalf("listening over a stale socket: %v", err)
	}
	defer ln.Close()
	if l := logs.String(); !strings.Contains(l, "[WARN]") || !strings.Contains(l, "stale") || !strings.Contains(l, path) {
		t.Fatalf("removing the stale socket was not logged as a warning naming %s:\n%s", path, l)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new socket: %v %v", err, fi)
	}
}

func TestUnixSocketThatAnswersIsNeverTaken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	live, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	s, _ := socketServer(t, path)
	ln, err := s.OpenListener("unix", path)
	if err == nil {
		ln.Close()
		t.Fatal("listened on a socket another process serves")
	}
	if !strings.Contains(err.Error(), "another flipd is serving on "+path) {
		t.Fatalf("error %q does not say another flipd serves on %s", err, path)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the live socket no longer answers: %v", err)
	}
	c.Close()
}

func TestPathThatIsNotASocketIsNeverRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	leaveStaleSocket(t, stale)
	for _, tc := range []struct {
		name string
		make func(path string) error
	}{
		{"regular file", func(p string) error { return os.WriteFile(p, []byte("keep"), 0o644) }},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"symlink to a stale socket", func(p string) error { return os.Symlink(stale, p) }},
		{"dangling symlink", func(p string) error { return os.Symlink(filepath.Join(dir, "nothing"), p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "admin.sock")
			if err := tc.make(path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Lstat(path)
			s, _ := socketServer(t, path)
			ln, err := s.OpenListener("unix", path)
			if err == nil {
				ln.Close()
				t.Fatalf("listened over a %s", tc.name)
			}
			if !strings.Contains(err.Error(), "not a socket") {
				t.Errorf("error %q does not say the path is not a socket", err)
			}
			if after, err := os.Lstat(path); err != nil || !os.SameFile(before, after) {
				t.Fatalf("the %s was removed or replaced: %v", tc.name, err)
			}
		})
	}
	if fi, err := os.Lstat(stale); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("the symlink's stale target was removed: %v", err)
	}
}

func TestAbstractAdminSocketNeedsAToken(t *testing.T) {
	_, err := New(newFake(), engine.AdminConfig{Listen: "unix/@flipd-admin"}, nil)
	if err == nil || !strings.Contains(err.Error(), "admin.token") {
		t.Fatalf("New with an abstract socket and no token: %v; want an error naming admin.token", err)
	}
	_, err = engine.ParseConfig([]byte(`{"admin": {"listen": "unix/@flipd-admin"}}`))
	var ce *flipd.ConfigError
	if !errors.As(err, &ce) || ce.Field != "admin.listen" {
		t.Fatalf("a config with an abstract admin socket and no token: %v; want a config error on admin.listen", err)
	}
	if _, err := engine.ParseConfig([]byte(`{"admin": {"listen": "unix/@flipd-admin", "token": "t"}}`)); err != nil {
		t.Fatalf("an abstract admin socket with a token: %v", err)
	}
	if _, err := New(newFake(), engine.AdminConfig{Listen: "unix/@flipd-admin", Token: "t"}, nil); err != nil {
		t.Fatalf("New with an abstract socket and a token: %v", err)
	}
}
