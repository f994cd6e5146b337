package bench

import (
	"io"
	"time"
)

// Options configure a benchmark run.
type Options struct {
	// Self is the command that re-executes this program as a helper (a
	// program whose main calls ChildMain first): os.Executable() for
	// flipd-bench, the test binary in tests.
	Self []string
	// Flipd is the flipd binary; built from this module if empty.
	Flipd string
	// Nginx is the nginx binary; looked up in PATH and /usr/sbin if
	// empty; "none" leaves nginx out.
	Nginx string
	// Caddy is the Caddy binary; the latest release built from the Go
	// module proxy (and cached) if empty; "none" leaves Caddy out.
	// HAProxy is the haproxy binary; looked up in PATH and /usr/sbin if
	// empty; "none" leaves HAProxy out.
	Caddy, HAProxy string
	// Memory also measures each server's resident memory, idle and with
	// IdleConns idle keep-alive connections open.
	Memory bool
	// Dir holds configs, logs and sockets; a temporary one if empty.
	Dir string
	// Upgrades is how many upgrades each run does.
	Upgrades int
	// Rate is the requests per second each run sends.
	Rate int
	// Conns is the keep-alive connections of ModeKeepAlive.
	Conns int
	// Interval is the time from one upgrade's start to the next's.
	Interval time.Duration
	// Modes to run; the default Modes if empty.
	Modes []Mode
	// SkipRuns leaves out the load-while-upgrading runs (to measure only
	// the targets).
	SkipRuns bool
	// Targets also measures the targets beyond zero failures: the POST
	// /load round trip, scaling with listeners, throughput, idle
	// connections drained, idle memory.
	Targets bool
	// OnlyTargets, if not empty, measures only the targets it names:
	// rss, roundtrip, reload, scaling, throughput, idle.
	OnlyTargets []string
	// IdleConns is how many idle connections the drain target holds.
	IdleConns int
	// WSConns and WSStreams are the WebSockets and TCP streams of
	// ModeWS; WSDrain is the servers' limit on an old generation there
	// (flipd's drain_timeout, nginx's worker_shutdown_timeout); WSBudget
	// bounds each server's upgrades there (nginx upgrades once per
	// WSDrain at most, while its old workers hold the connections).
	WSConns   int
	WSStreams int
	WSDrain   time.Duration
	WSBudget  time.Duration
	// H3Conns is the QUIC connections of ModeH3.
	H3Conns int
	// Log receives progress; nil discards it.
	Log io.Writer
}

// Upgrade is one upgrade (or restart) during a run.
type Upgrade struct {
	Index int    `json:"index"`
	How   string `json:"how"`
	// At is when it was requested.
	At time.Time `json:"at"`
	// Ready is from the request until the new generation served: the
	// answer to POST /load, GET /status answering "active" from a
	// restarted flipd's first generation, the workers of a new nginx
	// master.
	Ready time.Duration `json:"ready"`
	// Reported is flipd's own figure in its answer.
	Reported time.Duration `json:"reported,omitempty"`
	// Exited is from the request until the old generation exited (for
	// the naive restart: the old supervisor, once its generations had).
	Exited time.Duration `json:"exited"`
	// Conflicts counts the 409 answers tried again.
	Conflicts int `json:"conflicts,omitempty"`
	// OldPid and NewPid are the old and new generations (for the
	// naive restart: the old and new supervisors).
	OldPid int    `json:"old_pid"`
	NewPid int    `json:"new_pid"`
	Err    string `json:"err,omitempty"`
}

// ProcSample is the server's processes at one moment.
type ProcSample struct {
	T           time.Duration `json:"t"` // since the load started
	Generations int           `json:"generations"`
	// Processes counts the generations and their workers, not the
	// supervisor.
	Processes int   `json:"processes"`
	RSS       int64 `json:"rss"` // bytes, Processes together
	// SupervisorRSS is flipd's supervisor's resident memory (bytes), 0
	// for a server without one.
	SupervisorRSS int64 `json:"supervisor_rss,omitempty"`
}

// Result is one server in one mode: load while upgrading.
type Result struct {
	Server   string       `json:"server"`
	Mode     Mode         `json:"mode"`
	Skipped  string       `json:"skipped,omitempty"`
	Err      string       `json:"err,omitempty"`
	Load     Summary      `json:"load"`
	Upgrades []Upgrade    `json:"upgrades"`
	Procs    []ProcSample `json:"procs"`
}
