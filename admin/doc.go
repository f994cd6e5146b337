// Package admin is flipd's JSON admin API: it loads a new config, re-executes
// the binary, stops the daemon, and reports status and metrics.
//
// The runtime serves it like any listener, on admin.listen (127.0.0.1:2019
// unless configured, or a unix socket), so its socket passes from one
// generation to the next and a client never sees a refused connection during
// an upgrade. Every generation builds its own [Server] with [New].
//
// # Endpoints
//
// POST /load replaces the whole config. It answers once the new generation
// serves, with its number, pid, how long it took and how many connections the
// old generation still drains:
//
//	curl -H 'Content-Type: application/json' --data-binary @config.json localhost:2019/load
//	{"generation":5,"pid":4242,"duration":"6ms","draining":{...},"draining_conns":3}
//
// With "Accept: application/x-ndjson" it streams one JSON line per step
// ({"progress": {"step": "validated", ...}}, then "started", then "ready")
// and ends with {"result": {...}} or {"error": "...", "status": 422}. A config
// refused before any step (an invalid one) still gets a plain 400.
//
// POST /upgrade re-executes the binary with the config in effect, to pick up
// a binary replaced on disk. It takes no body (or {}) and answers as /load:
//
//	curl -X POST -H 'Content-Type: application/json' localhost:2019/upgrade
//
// POST /stop drains this generation and ends the process; it answers 202
// first. A generation that has already handed over to a newer one (a
// client reaches it through a connection kept alive from before the
// reload) answers 409 "already handed over" instead, as /load does:
//
//	curl -X POST -H 'Content-Type: application/json' localhost:2019/stop
//
// GET /config is the config in effect, as it was loaded:
//
//	curl localhost:2019/config
//
// GET /status lists every live generation (number, pid, state, start time,
// uptime, open connections, draining since) and the last upgrades with their
// result and duration:
//
//	curl --unix-socket /run/flipd.sock http://localhost/status
//
// GET /ready answers as the http module's "health" handler does: 200
// {"status":"ready","generation":N} while this generation serves (or
// "handed_over" after a newer one took over), 503 "stopping" during
// upgrade.shutdown_delay and "draining" once it drains after a stop. For
// exec probes and local agents; a load balancer probes a listener:
//
//	curl --unix-socket /run/flipd.sock http://localhost/ready
//
// GET /metrics is in the Prometheus text format: flipd_upgrades_total by
// result, flipd_upgrade_duration_seconds, flipd_drain_duration_seconds,
// flipd_generation, flipd_live_generations, flipd_open_connections, and the
// Go and process collectors.
//
// # Errors
//
// Errors are {"error": "..."} with the status that says why: 400 an invalid
// config (with "field" naming where, when known), 401 a missing or wrong
// token, 403 a refused Host or Origin, 404 an unknown path, 405 a wrong
// method, 409 another upgrade in flight (or too many generations draining, or
// this generation stopping during upgrade.shutdown_delay),
// 413 a body over the limit, 415 a write without "Content-Type:
// application/json", 422 a new generation that refused the config (a port
// taken, say), 500 one that crashed or timed out, 503 a daemon that is
// stopping. After a failed upgrade the old generation goes on serving.
//
// # Security
//
// The admin API is root-equivalent for flipd: a config it loads can serve
// any file flipd can read (a file_server with root "/"), proxy to any
// address, and listen anywhere, and GET /config returns the config with
// its secrets (the admin token, ACME EAB keys). Whoever can reach it owns
// the machine's flipd and everything flipd's user can do. That is why it
// listens on loopback by default, refuses other TCP addresses unless
// admin.token is set, and why a unix socket is the recommended setting:
//
//	{"admin": {"listen": "unix//run/flipd/admin.sock"}}
//
// flipd creates that socket file with mode 0600 (bind creates it so, under
// a restrictive umask: it is never reachable by others, not even for a
// moment) and never changes a mode by path afterwards: a socket inherited
// by a new generation keeps the mode it has, so an operator may chmod it
// to let a group in. A socket file that a killed flipd left behind is
// removed at the next start if nothing answers on it (logged as a
// warning); a path that is not a socket, or a socket that answers, is
// never removed. An abstract unix socket ("unix/@flipd", Linux only) has
// no file and so no permissions: any local user can connect to it, and it
// is refused unless admin.token is set.
//
// The admin API also refuses what a browser could be tricked into sending. On a TCP address the Host header must name
// the listen address (its IP or "localhost", with the port), which defeats
// DNS rebinding; a unix socket, which browsers cannot reach, accepts any
// Host. A request with an Origin (or, failing that, a Referer) is refused
// unless it is listed in admin.origins or is the admin address itself.
// Writes need "Content-Type: application/json", which a cross-site form
// cannot send. Bodies are bounded by admin.max_body_bytes (1 MiB). If
// admin.token is set, every request needs "Authorization: Bearer <token>".
package admin
