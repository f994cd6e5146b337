// Package drain drains servers during a zero-downtime handover without
// losing a single request.
//
// During a handover the old process stops accepting and a new process
// takes over the listening socket. The textbook way for the old process to
// stop, closing the listener and then calling [http.Server.Shutdown], loses
// requests in two ways:
//
//  1. A connection accepted just before Shutdown may have its first request
//     read and then be closed without an answer: once net/http is shutting
//     down, it drops a request it has just read instead of serving it
//     (golang/go#75591). The client sees EOF.
//  2. Shutdown, and SetKeepAlivesEnabled(false), close idle keep-alive
//     connections at once. A client about to reuse one races the close; if
//     its request is already on the wire it fails, and clients do not retry
//     requests that are not idempotent, such as POST.
//
// [Server] avoids both by never letting net/http close an HTTP/1
// connection on its own. Once draining, every HTTP/1 response carries
// "Connection: close", so each connection ends cleanly after its next
// reply, and the client opens a new connection to the new process. Only
// connections that stay silent are closed by force, and only after
// [Options.IdleGrace] counted both from when they went silent and from
// when the drain began: a client that is still using its connection sends
// its next request well before that and is answered, and so is a client
// that takes a connection idle for long from its pool just as the drain
// begins. The connections still silent then are closed over a short
// window ([Options.CloseWindow]), the longest silent first, not all at
// one instant. A busy machine can stall a process, and its local clients,
// for longer than the grace: the time the drain itself stood still does
// not count against any grace, and on Linux a connection whose request
// already waits unread in its socket is not silent, however late the
// server reads it, and is not closed.
//
// HTTP/2 connections are told to go away as soon as the drain begins,
// whatever the HTTP/1 connections do, in the two steps of RFC 9113 §6.8:
// first a GOAWAY naming the largest stream ID, which refuses no stream,
// and a PING; once the client has answered the PING (or after a second),
// the final GOAWAY, which names the last stream the server has read. Every
// stream the client sent before it saw the first GOAWAY is served, so even
// a client that never retries a refused stream (h2load, for one) loses
// none; its next streams go on a new connection, to the new process. The
// drain waits for the streams in flight to finish. net/http sends only the
// final GOAWAY; the drain adds the first and the PING by following the
// frames of each HTTP/2 connection, both ways, without copying them.
//
// Connections a handler hijacks (WebSockets, other Upgrade tunnels) are
// tracked until the handler closes them: they count in
// [Server.OpenConns] and keep Shutdown waiting. As Shutdown's deadline
// nears, those still open are ended cleanly, by default with a FIN, or as
// the handler said with [OnDeadline] (a WebSocket proxy sends a Close
// frame), each in its turn over [Options.CloseSpread] so that their
// clients do not all reconnect at once. [Server.Track] adds a connection
// of the server's own (one adopted from an older generation) to them.
//
// Better still, an idle HTTP/1 connection can move instead of closing:
// [Server.MoveIdle] hands each plaintext keep-alive connection that waits
// for a request to a mover, typically to pass its descriptor to the new
// process, whose [Server.Adopt] serves it. A connection moves only while
// net/http holds no byte of its next request (net/http's goroutine is in
// a Read into its whole, empty buffer, or a new connection has not been
// read from); a request the client sent meanwhile waits in the socket's
// receive buffer, which moves with the descriptor. A connection that is
// busy moves once it goes idle after its response, which then does not
// ask the client to close it. No idle connection is closed, so none
// races its client's next request. TLS and HTTP/2 connections cannot
// move (their state lives in this process) and drain as above.
//
// With [Options.OwnTimeouts], on a server whose listener is plaintext, the
// drain also enforces the http.Server's ReadHeaderTimeout and IdleTimeout
// itself, from what its connection wrapper sees, so that net/http reads
// no clock and sets no read deadline for them on each keep-alive request;
// a connection is then cut between its timeout and a second after it.
//
// [Conns] does the same for plain TCP connections, which have no protocol
// to ask the peer to go away: it waits for them to close and closes the
// rest when the context ends.
package drain
