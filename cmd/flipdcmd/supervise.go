package flipdcmd

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/supervisor"
)

func init() {
	register(command{
		name:  "supervise",
		usage: "[--pidfile FILE] [--log-level LEVEL] -- COMMAND [ARGS...]",
		short: "Run a program built on upgrade under a supervisor that keeps one pid for life, reaps every generation and forwards signals to the serving one.",
		run:   cmdSupervise,
	})
}

func cmdSupervise(args []string) error {
	fs := newFlags(commands["supervise"])
	pidFile := fs.String("pidfile", "", "write the supervisor's own pid, stable across upgrades, to `file`")
	logLevel := fs.String("log-level", "info", "the supervisor's log `level` (trace, debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no command to supervise: flipd supervise [flags] -- COMMAND [ARGS...]", errUsage)
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("%w: --log-level %q: want trace, debug, info, warn or error", errUsage, *logLevel)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "flipd", Output: os.Stderr, Level: level})
	code, err := supervisor.Run(supervisor.Options{Args: fs.Args(), PIDFile: *pidFile, Logger: log})
	if err != nil {
		return err
	}
	// The supervised program's status is the command's: a shell, a
	// container runtime or a restart policy sees it as if it ran alone.
	os.Exit(code)
	return nil
}
