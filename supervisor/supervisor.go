// Package supervisor keeps one process ID for the whole life of a service
// that upgrades itself by re-executing (a program built on upgrade,
// or flipd itself).
//
// In the chain model each new generation is a child of the old one, and
// the old one exits after draining: the pid that serves changes on every
// upgrade. Whatever watches a pid (a container runtime that started PID 1,
// a shell, supervisord, runit, systemd without NotifyAccess=all) loses the
// service after the first upgrade. Run puts a small process in front that
// never serves:
//
//   - it starts generation 1 as its child, in a process group of its own,
//     with NOTIFY_SOCKET naming a datagram socket of its own (in a private
//     0700 directory);
//   - it is a child subreaper, so every generation whose parent exits
//     becomes its child, and it reaps every zombie of its tree, as tini
//     does when it is PID 1; while an older generation still runs, it
//     looks every 200 ms for a newer one that generation reaped (no
//     SIGCHLD reaches the supervisor then), and otherwise it sleeps until
//     a signal or a notification comes;
//   - it learns which generation serves from the sd_notify messages the
//     generations already send (MAINPID=, READY=1, RELOADING=1,
//     STOPPING=1), accepted only from its own descendants (the sender's
//     pid comes from SCM_CREDENTIALS, not from the message), and passes
//     them on to its own NOTIFY_SOCKET with MAINPID= its own pid, so that
//     systemd's NotifyAccess=main is enough;
//   - it forwards SIGHUP, SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 to the
//     serving generation;
//   - it exits with the serving generation's exit status (128+signal for a
//     generation killed by a signal, as shells report it) once that
//     generation and every older one still draining are gone.
//
// # Signals
//
// Each signal the supervisor receives is forwarded once, to one process:
// the generation that serves. The generations run in their own process
// group, so a Ctrl-C in a terminal reaches the supervisor only, and the
// serving generation sees one SIGINT, not two (a second Ctrl-C is a second
// SIGINT, which flipd takes as "close now").
//
//   - SIGTERM and SIGINT go to the serving generation at once, also before
//     it said READY=1 (then to the first child). A stop that arrives while
//     an upgrade is handing over may reach the old generation just before
//     the new one says MAINPID=; so once a stop has been forwarded, every
//     generation that later becomes the serving one gets the same signal.
//     When the serving generation is gone and older ones still drain, a
//     stop goes to each of them.
//   - SIGHUP, SIGUSR1 and SIGUSR2 are held until the first READY=1: the
//     first generation may not have installed its handlers yet, and their
//     default action would kill it. A program that never sends READY=1
//     never gets them (they are logged, not dropped silently).
//   - A SIGHUP while a reload is in flight (RELOADING=1 seen, READY=1 not
//     yet) is forwarded anyway, with a log line: the serving generation
//     decides (upgrade refuses it with ErrUpgradeInProgress and the
//     program logs that). Holding it here would hide the refusal from the
//     generation's log and could replay a stale reload later.
//
// # Exit status
//
// The generations are the first child and every pid an accepted MAINPID=
// named. When the last of them is gone the supervisor exits with the exit
// status of the one that served last. A serving generation that exits
// while its parent generation still drains is reaped by that parent, and
// its status is not known here: the supervisor then exits 0 if it had
// forwarded a stop, 1 otherwise, and says so in its log. Processes that are
// not generations (a generation's helpers) are reaped when they exit but do
// not keep the supervisor alive; any left at its exit are logged (as PID 1
// the kernel kills them with it).
//
// Not done yet: socket activation (LISTEN_FDS) is not passed on, and the
// supervisor does not re-execute itself to run new code.
package supervisor

import (
	"errors"
	"os"

	"github.com/hashicorp/go-hclog"
)

// ErrNotSupported is returned by Run where a supervisor cannot work: it
// needs PR_SET_CHILD_SUBREAPER and SCM_CREDENTIALS, which only Linux has.
var ErrNotSupported = errors.New("supervisor: not supported on this platform (it needs Linux's PR_SET_CHILD_SUBREAPER and SCM_CREDENTIALS)")

// PIDEnv is the environment variable that names the supervisor's pid in
// every generation (set for generation 1, inherited by the ones it starts),
// so that a generation can show it (flipd status) or know it is
// supervised.
const PIDEnv = "FLIPD_SUPERVISOR_PID"

// Options says what Run starts and how.
type Options struct {
	// Args is the command of generation 1: Args[0] is the program, looked
	// up in PATH when it has no slash, and Args the whole argv.
	Args []string
	// Env is generation 1's environment, without NOTIFY_SOCKET and
	// PIDEnv (Run sets its own); nil means os.Environ().
	Env []string
	// Stdin, Stdout and Stderr are given to generation 1; nil means this
	// process's own.
	Stdin, Stdout, Stderr *os.File
	// PIDFile, if set, is written with the supervisor's own pid before
	// generation 1 starts, and removed at exit if it still names it.
	PIDFile string
	// PIDFileWhenReady delays writing PIDFile until a generation first
	// says READY=1, so that the file's appearance means the service
	// serves (flipd run sets it; a program that never sends READY=1 then
	// never gets a PID file). A failure to write it is logged then, not
	// returned.
	PIDFileWhenReady bool
	// Logger receives the supervisor's log, named "supervisor" and with
	// its pid on every line; nil logs to stderr.
	Logger hclog.Logger
}

// Run starts generation 1 and supervises it and every later generation
// until the last is gone. It returns the exit status the supervisor should
// exit with, or an error if it could not start (then nothing is left
// running). Run catches SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2 and
// SIGCHLD while it runs, and reaps every child of the process: call it from
// a process that has no other children, such as `flipd supervise` or
// `flipd run` (which supervises itself unless told --no-supervisor).
func Run(opts Options) (int, error) {
	if len(opts.Args) == 0 || opts.Args[0] == "" {
		return 1, errors.New("supervisor: no command to run")
	}
	return run(opts)
}

func (o *Options) logger() hclog.Logger {
	log := o.Logger
	if log == nil {
		log = hclog.New(&hclog.LoggerOptions{Output: os.Stderr})
	}
	return log.Named("supervisor").With("pid", os.Getpid())
}

func orStd(f, std *os.File) *os.File {
	if f == nil {
		return std
	}
	return f
}
