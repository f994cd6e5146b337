// Package runtime turns runtime/upgrade into a daemon: it loads a JSON
// config, builds its listener modules, serves, and reloads by re-executing
// itself with the new config, so that the new generation provisions
// everything before the old one stops.
//
// # Writing a module
//
// A module is a Go type, built from JSON, registered from an init
// function:
//
//	func init() { runtime.RegisterModule(new(Greeter)) }
//
//	// Greeter answers every connection with a greeting.
//	type Greeter struct {
//		// Greeting is written to each client. Default: "hello".
//		Greeting string `json:"greeting,omitempty"`
//
//		conns drain.Conns
//		ln    net.Listener
//	}
//
//	func (*Greeter) FlipdModule() runtime.ModuleInfo {
//		return runtime.ModuleInfo{ID: "listeners.greeter", New: func() runtime.Module { return new(Greeter) }}
//	}
//
// Its ID puts it in a namespace: "listeners" for listener modules
// (ListenerModule), "listener_wrappers" for wrappers (ListenerWrapper),
// "http.handlers" and "tcp.handlers" for the handlers of modules/http and
// modules/tcp. A config names it by its last part:
//
//	{"listeners": {"hi": {"address": "tcp/127.0.0.1:7001", "module": "greeter", "greeting": "hi"}}}
//
// Its life, in every generation that serves a config naming it:
//
//  1. New, then JSON decoding: unknown fields are errors. Give duration
//     fields the type Duration ("30s"; bare numbers are refused).
//  2. Provision(ctx) if it is a Provisioner: defaults, nested modules
//     (ctx.LoadModule), connections to upstreams. No listening sockets:
//     the runtime owns those, and hands them over between generations.
//  3. Validate() if it is a Validator.
//  4. Serve(ln) with its socket, inherited from the previous generation
//     when the address is the same, and wrapped by the listener's
//     wrappers (TLS, say).
//  5. Drain(ctx) when a new generation has taken over, or on stop: stop
//     accepting, finish what is in flight, return when nothing is left
//     or ctx ends (runtime/drain does the hard part for HTTP servers and
//     plain connections). A final stop (SIGTERM, SIGINT, POST /stop)
//     with upgrade.shutdown_delay set first leaves the module serving
//     for that long while ctx.Readiness() answers ReadinessStopping, so
//     that readiness probes fail before anything stops accepting.
//  6. Cleanup() if it is a CleanerUpper, when its config is discarded: a
//     later step failed, or the process is exiting.
//
// Steps 1 to 3 also run, without any socket, when a config is validated
// ("flipd validate", or before a reload starts a new process), so they
// must not have effects outside the process.
//
// To build flipd with your module, write a main package that imports
// cmd/flipd's entry point and your package; see examples/custom-module.
package runtime
