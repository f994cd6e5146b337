// Package bench is flipd's load-while-upgrading benchmark: it proves, or
// disproves, that no client sees a failure while flipd upgrades, and
// shows what an upgrade costs, side by side with nginx's binary upgrade
// and with a naive stop-and-start. cmd/flipd-bench is its command line.
//
// A run starts a server on loopback, sends it requests from a separate
// process at a fixed rate (an open loop: a stalled server cannot slow the
// schedule down, and the wait counts in the latency), upgrades it again
// and again, and sums up every request: answered, or failed by kind
// (refused, reset, EOF, timeout, TLS handshake, bad status), with the
// requests that a client silently sent twice counted as retries (httptrace
// sees each connection taken and each write). It watches the server's
// processes in /proc for their number and memory, and each old generation
// until it has exited.
//
// The modes are a new connection per GET; POSTs over 64 keep-alive
// connections (a client does not resend a POST it has written, so a drop
// shows); the same over TLS; and POSTs as HTTP/2 streams over cleartext
// connections (h2c). flipd is upgraded by POST /load, alternating two
// configs that differ in the response body, with every fourth upgrade a
// POST /upgrade; nginx by USR2, WINCH and QUIT with its config rewritten
// between; the naive restart is SIGTERM, wait, start.
//
// Two more peers run beside nginx on the same load and modes, where
// present: Caddy, the latest release built from the Go module proxy once
// and cached under the user's cache directory, reloaded by a config
// change through its admin API (POST /load, applied in-process), and
// HAProxy in master-worker mode with expose-fd listeners, reloaded by
// USR2 to the master. With Options.Memory each server's resident memory
// (VmRSS) is read idle and with 10,000 idle keep-alive connections open,
// the serving generation apart from the supervisor in front of it.
//
// The ws mode (not among the defaults) measures long-lived connections
// instead: WebSockets through the http module's reverse_proxy and TCP
// streams through the tcp module's proxy, to echo backends in a helper
// process, from a client in another, while the server upgrades. Each
// WebSocket sends a numbered message every 100 ms and checks every echo
// (lost, duplicated, reordered, wrong), each stream writes a counter
// stream and verifies its echo byte for byte; a connection that ends is
// counted as lost, by how, and opened again. Each upgrade waits until the
// last old generation has exited and every connection is open again, and
// each old generation's exit is watched through a pidfd, so that "lived",
// from the reload's answer to the exit, is what one handover costs. It
// compares flipd handing connections over, flipd draining them
// ("move_connections": false) and nginx, whose old workers keep theirs
// until worker_shutdown_timeout and then cut them.
//
// The h3 mode (not among the defaults) sends POSTs at the run's rate over
// a few long-lived HTTP/3 connections (quic-go's client, each on its own
// UDP socket) to a listener with "http3": true and the tls wrapper, while
// flipd upgrades. QUIC connections are not handed over: they stay with
// their generation, whose packets the newest one forwards to it (package
// quicroute). The mode counts failed requests by kind (QUIC's own errors
// first: a stateless reset is a reset, an idle timeout a timeout, a
// connection closed under a request an EOF) and the connections: closed
// cleanly (H3_NO_ERROR after the GOAWAY, no request failed on them) or
// lost. It compares flipd with forwarding, which must fail nothing, and
// with "http3_forward": false, which must show failures.
//
// The benchmark also measures flipd's other targets: the POST /load round
// trip with 10 listeners, the upgrade's cost with 10, 100 and 1,000
// listeners, static_response throughput against the same handler in a
// bare net/http server, the drain of 10,000 idle keep-alive connections,
// and a generation's idle memory. Throughput alternates the servers in
// slices of a fraction of a second, from one closed-loop client pinned to
// the other core, and compares them slice by slice: requests a second,
// the server's CPU time a request (every thread's, from /proc) and its
// heap allocations a request (the Go runtime's count: flipd's GET
// /metrics, the bare server's stats listener). The CPU time target is
// then measured with flipd and bare net/http served at once on one core,
// in rounds taken in turn with two twins of bare net/http, the control,
// and with bare net/http behind the drain against a third twin, the
// drain's share (shared.go); each server is in one pair only.
// [Report.Markdown] is the
// README's table, [Report.SVG] the latency plot.
//
// Everything runs on loopback, every loop is bounded in count and time,
// and the helpers (load generators, the bare server) are the benchmark's
// own binary re-executed: a main that calls [ChildMain] first.
package bench
