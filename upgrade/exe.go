package upgrade

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// startExecutable is the absolute path of the executable this process was
// started as, resolved once at start-up, before the program can change its
// working directory. It keeps symbolic links: a deploy that swaps a link
// or replaces the file at that path is what the next generation runs.
var startExecutable = resolveExecutable(os.Args)

func resolveExecutable(args []string) string {
	if len(args) > 0 && args[0] != "" {
		name := args[0]
		if strings.ContainsRune(name, filepath.Separator) || strings.ContainsRune(name, '/') {
			if abs, err := filepath.Abs(name); err == nil {
				return abs
			}
		} else if found, err := exec.LookPath(name); err == nil {
			if abs, err := filepath.Abs(found); err == nil {
				return abs
			}
		}
	}
	// argv[0] says nothing useful (a launcher rewrote it): ask the kernel.
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return ""
}

// childEnv is this process's environment without what belongs to it
// alone: the handshake marker and systemd's socket-activation variables
// (the sockets themselves are passed on through the handshake).
func childEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case envHandshake, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return out
}
