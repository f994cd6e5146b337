package flipdcmd

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/admin"
	"github.com/flipd/flipd/engine"
)

func init() {
	register(command{
		name:  "run",
		usage: "[--config FILE] [--pidfile FILE] [--resume] [--no-supervisor]",
		short: "Serve the config in the foreground, with one pid for life. SIGHUP reloads the config file; SIGTERM or SIGINT stop gracefully (a second SIGINT stops at once).",
		run:   cmdRun,
	})
}

// defaultConfig is what flipd serves without a config: no listeners, only
// the admin API on its default address.
const defaultConfig = `{"admin": {"listen": "` + engine.DefaultAdminListen + `"}}`

func cmdRun(args []string) error {
	generation := len(args) > 0 && args[0] == generationFlag
	if generation {
		args = args[1:]
	}
	fs := newFlags(commands["run"])
	configFile := fs.String("config", "", "the JSON config `file` (SIGHUP re-reads it)")
	pidFile := fs.String("pidfile", "", "write flipd's pid to `file`: the one pid that stays across reloads (with --no-supervisor: the serving generation's)")
	resume := fs.Bool("resume", false, "start from the last config a generation served (saved in the storage directory), falling back to --config")
	noSupervisor := fs.Bool("no-supervisor", false, "serve in this process, and let each reload's new generation replace it (the chain model: for systemd units with NotifyAccess=all)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch runModeOf(generation, *noSupervisor) {
	case modeSupervisor:
		code, ok, err := superviseSelf(args, *pidFile)
		if err != nil {
			return err
		}
		if ok {
			// The serving generation's status is flipd's: a shell, a
			// container runtime or a restart policy sees it as if
			// flipd had served in this process.
			os.Exit(code)
		}
	case modeGeneration:
		// The supervisor's pid is the stable one, and it wrote the
		// PID file (flipd supervise --pidfile, for a supervisor of
		// one's own).
		if !generation && *pidFile != "" {
			hclog.New(&hclog.LoggerOptions{Name: "flipd", Output: os.Stderr}).With("pid", os.Getpid()).Warn(
				"--pidfile ignored under flipd supervise: the supervisor's pid is the stable one; pass --pidfile to flipd supervise",
				"supervisor_pid", os.Getppid(), "pidfile", *pidFile)
		}
		*pidFile = ""
	}
	if *configFile != "" {
		abs, err := filepath.Abs(*configFile)
		if err != nil {
			return err
		}
		*configFile = abs
	}

	// Signals are caught before anything else, so that a SIGHUP sent as
	// soon as the PID file names this process does not kill it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	in, err := engine.Start(engine.Options{
		Config:  func() ([]byte, string, error) { return initialConfig(*configFile, *resume) },
		PIDFile: *pidFile,
		Admin: func(in *engine.Instance, cfg engine.AdminConfig) (flipd.Server, error) {
			return admin.New(in, cfg, in.Logger().Named("admin"))
		},
	})
	if err != nil {
		return err
	}
	log := in.Logger()
	reloads := newHupReloads(in, *configFile)
	interrupts := 0
	for {
		select {
		case <-hup:
			reloads.signal()
		case <-reloads.done:
			reloads.finished()
		case sig := <-stop:
			// Ctrl-C signals every generation of the process group
			// once: only a second SIGINT to this process forces.
			if sig == syscall.SIGINT {
				if interrupts++; interrupts >= 2 {
					log.Warn("second interrupt: closing connections now")
					in.Close()
					continue
				}
			}
			log.Info("stopping", "signal", sig.String())
			in.Stop()
		case <-in.Done():
			return in.Wait()
		}
	}
}

// initialConfig finds the first generation's config: the last one saved
// with --resume, else the file, else the admin-only default.
func initialConfig(file string, resume bool) ([]byte, string, error) {
	var fileRaw []byte
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("reading config: %w", err)
		}
		fileRaw = raw
	}
	if resume {
		dir := engine.DefaultStorageDir()
		if fileRaw != nil {
			if cfg, err := engine.ParseConfig(fileRaw); err == nil && cfg.Storage.Dir != "" {
				dir = cfg.Storage.Dir
			}
		}
		raw, err := engine.LoadLastConfig(dir)
		switch {
		case err == nil:
			return raw, "resume:" + dir, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, "", fmt.Errorf("--resume: %w", err)
		}
	}
	if fileRaw != nil {
		return fileRaw, "file:" + file, nil
	}
	return []byte(defaultConfig), "default", nil
}
