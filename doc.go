// Package flipd is the module author's SDK: what a listener module, a
// listener wrapper or a handler imports to plug into flipd. It holds
// module registration ([RegisterModule], [ModuleInfo], [Context.LoadModule]
// and the namespaces), the [Context] a module is provisioned with, the
// contracts a module implements ([ConnHandler], [ListenerModule],
// [PacketListenerModule], [ListenerWrapper], [Starter], [Stopper],
// [Provisioner], [Validator], [CleanerUpper]), [Duration] and strict decoding ([DecodeStrict]). This
// documentation is the guide: the recipe below is a whole module.
//
// The engine that runs modules (instances, reloads and upgrades,
// generations, the socket registry, the admin API's backend) is package
// github.com/flipd/flipd/engine; it imports flipd, never the other way
// round, and a module never needs it. Package
// github.com/flipd/flipd/flipdtest provisions a module on its own in a
// test. Where this documentation says "the runtime", it means that
// engine: the flipd process serving a config.
//
// Package names in this module say what they are and never shadow the
// standard library, so that no import needs an alias: flipd (this SDK),
// engine, flipdtest, modules/flipdhttp and modules/flipdtls (the "http"
// and "tls" modules: config IDs are unchanged), upgrade and drain (the
// standalone handover and drain libraries).
//
// # Connections that move on a reload
//
// By default a reload leaves the old generation's connections to drain
// there. A [ConnHandler] whose connections can move to the new process
// instead (the socket itself passes, with the bytes the handler read and
// has not written) implements [MovableConnHandler]: it watches
// [Moving](ctx), stops where no byte is held inside it, and returns
// [Move](state, extra...); the new generation's ResumeConn goes on from
// state. The runtime then moves, on each reload, the connections of
// every listener whose new config has the same address, wrappers, module
// and HandoverKey (upgrade.move_connections, default true); the old
// generation exits as soon as what it could not move has drained. A
// [ListenerModule] can do the same by implementing [ConnMover].
//
// # Recipe: a line-based protocol server
//
// A listener module is a Go type built from JSON and registered from an
// init function. Most write only what happens to one connection: a
// ServeConn method ([ConnHandler]). The runtime opens the socket (or
// inherits it from the previous generation), accepts, tracks every
// connection, backs off on temporary accept errors, and drains on a
// reload or stop. This one answers each line with the line in upper case:
//
//	package shout
//
//	import (
//		"bufio"
//		"context"
//		"net"
//		"strings"
//
//		"github.com/flipd/flipd"
//	)
//
//	func init() { flipd.RegisterModule(new(Shout)) }
//
//	// Shout answers every line with the line in upper case.
//	type Shout struct {
//		// Prefix starts every answer. Default: none.
//		Prefix string `json:"prefix,omitempty"`
//	}
//
//	func (*Shout) FlipdModule() flipd.ModuleInfo {
//		return flipd.ModuleInfo{ID: "listeners.shout", New: func() flipd.Module { return new(Shout) }}
//	}
//
//	// ServeConn serves one client; the runtime closes conn afterwards.
//	func (s *Shout) ServeConn(ctx context.Context, conn net.Conn) error {
//		lines := bufio.NewScanner(conn)
//		for lines.Scan() {
//			if _, err := conn.Write([]byte(s.Prefix + strings.ToUpper(lines.Text()) + "\n")); err != nil {
//				return err
//			}
//		}
//		return lines.Err()
//	}
//
// Its ID puts it in the namespace "listeners"; a config names it by the
// last part, next to the listener's address, with its own fields:
//
//	{"listeners": {"loud": {"address": "tcp/127.0.0.1:7001", "module": "shout", "prefix": "> "}}}
//
// Build flipd with it: a main package that imports cmd/flipdcmd and your
// package (see examples/custom-module, whose greeter is this recipe's
// twin):
//
//	package main
//
//	import (
//		"github.com/flipd/flipd/cmd/flipdcmd"
//		_ "github.com/flipd/flipd/modules/standard"
//		_ "example.com/shout"
//	)
//
//	func main() { flipdcmd.Main() }
//
// Test it on its own with the runtime's accept loop: provision it from
// JSON with flipdtest's Load (github.com/flipd/flipd/flipdtest), serve it on a listener of the
// test's with &flipd.ConnServer{Handler: mod.(flipd.ConnHandler)},
// dial, then Drain (see the ConnServer example, which runs this recipe).
//
// What ServeConn may count on: it runs on a goroutine of its own per
// connection, so it must be safe for concurrent use; ctx ends when the
// drain's deadline passes (conn is closed then too); a panic is recovered
// and logged; the error it returns is logged at debug level with the
// client's address. Plain TCP cannot ask a client to leave: on a reload
// the old generation stops accepting at once (the new one accepts on the
// same socket, so no client is lost) and lets its connections end by
// themselves until upgrade.drain_timeout. To say goodbye sooner, add a
// Stop hook (below) that tells ServeConn to finish after the current
// line.
//
// # Which contract
//
//   - [ConnHandler] (ServeConn): the runtime runs the accept loop. Fits
//     any protocol served one connection at a time: the recipe above,
//     examples/custom-module.
//   - [ListenerModule] (Serve and Drain): the module serves the listener
//     itself. Fits servers that own their accept loop: modules/flipdhttp,
//     where net/http accepts. A module whose loop needs settings of its
//     own runs a [ConnServer] inside and is a ListenerModule whose Serve
//     and Drain call it (modules/tcp does, for max_conns). Serve must
//     return nil once Drain has closed its listener, and Drain must wait
//     for the connections it accepted: see [Server].
//   - [PacketListenerModule] (ServePacket and Drain): the module serves
//     a datagram socket, a "udp/..." address, and gets the socket itself
//     (a *net.UDPConn: quic-go can use it as it is). Every generation
//     holding the socket may read it, and each datagram goes to one
//     reader, so the runtime calls ServePacket only once this generation
//     is ready, and Drain must stop reading at once but may keep
//     writing (replies still due) until its work ends: see
//     [PacketServer], and modules/udp for an example. Report sessions
//     with [SessionCounter].
//   - [ListenerWrapper] (WrapListener), namespace "listener_wrappers":
//     wraps the socket before the listener module sees it (modules/flipdtls).
//
// Modules nested in another's config ("http.handlers", "tcp.handlers")
// implement the interface of their namespace, documented by the module
// that loads them.
//
// # A module's life
//
// In every generation that serves a config naming it:
//
//  1. New, then JSON decoding: unknown fields are errors. Give duration
//     fields the type Duration ("30s"; bare numbers are refused).
//  2. Provision(ctx) if it is a [Provisioner]: defaults, nested modules
//     (ctx.LoadModule), connections to upstreams. No listening sockets:
//     the runtime owns those, and hands them over between generations.
//  3. Validate() if it is a [Validator].
//  4. The runtime opens (or inherits) every listener's socket and wraps
//     it (WrapListener).
//  5. Start(ctx) if it is a [Starter]: work that must happen only in the
//     generation about to serve (obtaining certificates, say). An error
//     fails the start-up with the module's message; on a reload the old
//     generation keeps serving.
//  6. The listeners serve (ServeConn for each connection, or Serve), and
//     the generation reports ready.
//  7. Stop(ctx) if it is a [Stopper], when a new generation has taken
//     over or on a stop: background work ends here.
//  8. Drain: stop accepting, finish what is in flight, within
//     upgrade.drain_timeout. A final stop (SIGTERM, SIGINT, POST /stop)
//     with upgrade.shutdown_delay set first leaves the module serving
//     for that long while ctx.Readiness() answers ReadinessStopping, so
//     that readiness probes fail before anything stops accepting.
//  9. Cleanup() if it is a [CleanerUpper], when its config is discarded:
//     a later step failed, or the process is exiting.
//
// Steps 1 to 3 also run, without any socket, when a config is validated
// ("flipd validate", or before a reload starts a new process), so they
// must not have effects outside the process; steps 4 to 8 run only in the
// generation that serves. Every module loaded for a config, nested ones
// included, gets its Start and Stop: Start in the order they were
// provisioned (nested modules first, a listener's wrappers before its
// listener module), Stop in reverse.
package flipd
