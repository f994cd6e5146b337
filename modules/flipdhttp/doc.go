// Package flipdhttp is flipd's "http" listener module: an HTTP server whose
// routes send each request to a handler module, drained without losing a
// request when a new generation takes over.
//
// The package is named flipdhttp, not http, so that it never shadows
// net/http and needs no import alias; the module ID in configs stays
// "http" (and handler IDs "http.handlers.*").
//
// Import it for its side effect, from a main package, to make the modules
// available to configs:
//
//	import _ "github.com/flipd/flipd/modules/flipdhttp"
//
// # Config
//
// A listener whose "module" is "http" takes the fields of [Server]:
//
//	{
//	  "address": "tcp/127.0.0.1:8080",
//	  "module": "http",
//	  "routes": [
//	    {"match": {"host": ["example.com", "*.example.com"], "path": "/api/*", "method": ["GET", "POST"]},
//	     "handle": {"module": "reverse_proxy", "upstreams": ["127.0.0.1:9000", "127.0.0.1:9001"]}},
//	    {"match": {"path": "/static/*"},
//	     "handle": {"module": "file_server", "root": "/srv/www"}},
//	    {"handle": {"module": "static_response", "status": 200, "body": "hello"}}
//	  ],
//	  "read_header_timeout": "10s",
//	  "idle_timeout": "2m"
//	}
//
// Routes are tried in order; the first whose [Match] fits the request
// handles it, and a request no route fits is answered 404. Durations are
// strings such as "500ms", "10s" or "2m" ([flipd.Duration]); a bare
// number or a negative duration is refused, and "0s" means the same as
// leaving the field out: the default. Unknown fields are errors.
//
// # Handlers
//
// A route's "handle" names a module of namespace "http.handlers"; such a
// module implements net/http's Handler. Built in:
//
//   - "static_response" ([StaticResponse]): a fixed status, headers and body;
//   - "reverse_proxy" ([ReverseProxy]): forwards to upstream servers in turn;
//   - "file_server" ([FileServer]): serves the files of a directory;
//   - "health" ([Health]): a readiness endpoint, 200 while the generation
//     serves and 503 while it stops (upgrade.shutdown_delay) or drains
//     after a stop; 200 still from a generation that handed over to a
//     newer one in a reload, so probes do not fail at each reload.
//
// Other packages add their own with flipd.RegisterModule, under an ID
// such as "http.handlers.my_handler".
//
// # Protocols
//
// HTTP/1.1 always. HTTP/2 over TLS, when the listener's "tls" wrapper
// offers "h2" by ALPN. HTTP/2 over plain TCP ("h2c", prior knowledge only)
// when the listener sets "h2c": true.
//
// # Contract
//
// Server is a [flipd.ListenerModule], not a [flipd.ConnHandler]:
// net/http owns its accept loop and its connections' life (keep-alive,
// HTTP/2 streams), so the module serves the listener itself, and drains
// through drain. It is a [flipd.ConnMover]: idle plaintext HTTP/1
// keep-alive connections move to the next generation's server for the
// same listener (handover.go names the kinds of moved connection).
//
// The package is named http, like net/http, because its directory is;
// inside it net/http is imported as http.
package flipdhttp
