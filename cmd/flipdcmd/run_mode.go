package flipdcmd

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/supervisor"
)

// generationFlag marks a `flipd run` started by its own supervisor: it
// serves as a generation. It is not in the flag set (nobody types it), and
// it is always the first argument after "run". upgrade starts
// every new generation with this process's os.Args, so it carries over.
const generationFlag = "--generation"

// runMode is how one `flipd run` process takes part in the service.
type runMode int

const (
	// modeSupervisor: this process never serves; it runs the supervisor
	// in front of generation 1 and keeps its pid for the service's life.
	modeSupervisor runMode = iota
	// modeGeneration: this process serves under a supervisor (flipd's
	// own, or `flipd supervise`), which owns the PID file.
	modeGeneration
	// modeChain: this process serves, and each reload's new generation
	// is its child; the PID file names the serving generation.
	modeChain
)

// runModeOf says how this process runs, from the hidden generationFlag
// (already taken off args), --no-supervisor and the environment.
func runModeOf(generation, noSupervisor bool) runMode {
	switch {
	case generation:
		return modeGeneration
	case noSupervisor:
		return modeChain
	case underSupervisor():
		// `flipd supervise -- flipd run`: a second supervisor would
		// only add a process; serve as the generation it started, and
		// tell later generations so (their parent is a generation).
		markArgs(generationFlag)
		return modeGeneration
	}
	return modeSupervisor
}

// underSupervisor reports whether this process's parent is a supervisor
// that named itself in supervisor.PIDEnv.
func underSupervisor() bool {
	pid, err := strconv.Atoi(os.Getenv(supervisor.PIDEnv))
	return err == nil && pid > 0 && pid == os.Getppid()
}

// markArgs puts flag right after "run" in os.Args, which upgrade
// gives every new generation: they then run in the mode this one chose.
func markArgs(flag string) {
	if len(os.Args) < 2 || os.Args[1] != "run" || slices.Contains(os.Args[2:], flag) {
		return
	}
	os.Args = slices.Insert(os.Args, 2, flag)
}

// superviseSelf runs the supervisor in front of `flipd run --generation
// args...` and returns its exit status. The supervisor writes pidFile with
// its own pid once generation 1 is ready, as flipd run always did (scripts
// wait for the file to mean "serving"). ok is false where the platform has no supervisor (macOS,
// Windows): the caller then serves in the chain model, and so does every
// later generation.
func superviseSelf(args []string, pidFile string) (code int, ok bool, err error) {
	log := hclog.New(&hclog.LoggerOptions{Name: "flipd", Output: os.Stderr})
	argv := append([]string{selfExecutable(), "run", generationFlag}, args...)
	code, err = supervisor.Run(supervisor.Options{Args: argv, PIDFile: pidFile, PIDFileWhenReady: true, Logger: log})
	if errors.Is(err, supervisor.ErrNotSupported) {
		log.With("pid", os.Getpid()).Info("serving without a supervisor: the pid that serves changes on every reload (the chain model)", "reason", err)
		markArgs("--no-supervisor")
		return 0, false, nil
	}
	return code, true, err
}

// selfExecutable is how generation 1 names this binary: as this process
// was started (so that `ps` shows what the operator typed and a deploy
// that replaces the file at that path applies), or the kernel's name for
// it when argv[0] cannot be found.
func selfExecutable() string {
	name := os.Args[0]
	if name != "" && strings.ContainsRune(name, '/') {
		return name
	}
	if name != "" {
		if _, err := exec.LookPath(name); err == nil {
			return name
		}
	}
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return name
}
