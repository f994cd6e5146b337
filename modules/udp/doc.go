// Package udp provides the "udp" listener module, which serves the
// datagrams of a udp address with a handler, and the built-in handlers
// "echo" and "proxy": for DNS-, syslog- or game-style services.
//
//	"listeners": {
//		"echo": {"address": "udp/127.0.0.1:7000", "module": "udp", "handle": {"module": "echo"}},
//		"dns": {"address": "udp/[::]:53", "module": "udp", "recv_buffer": 4194304,
//			"handle": {"module": "proxy", "upstream": "10.0.0.2:53", "idle_timeout": "30s", "max_sessions": 5000}}
//	}
//
// The listener's own field is "handle"; socket options ("reuse_port",
// "recv_buffer", "send_buffer") belong to the runtime (engine.SocketOptions).
// A handler's fields are those of its type (Echo, Proxy). Unknown fields
// are errors; a udp address for a stream module ("http", "tcp"), or a tcp
// address for this one, is refused with both named.
//
// # Handover
//
// The UDP socket passes from one generation to the next like a TCP
// listener: it is the same kernel socket, so datagrams that arrive while
// no generation reads wait in its receive buffer (size it with
// "recv_buffer" for bursts) and none is lost. The new generation starts
// reading once it has reported ready; the old one stops reading as it
// starts to drain. For a few milliseconds both may read: each datagram
// still goes to exactly one of them, which serves it.
//
// A proxy session (a client address, and the socket flipd opened to the
// upstream for it) belongs to the generation that opened it. Once the old
// generation stops reading, its sessions keep carrying the upstream's
// replies back to their clients, through the shared socket, until they are
// idle for idle_timeout or the drain's deadline (upgrade.drain_timeout)
// passes. A client's next datagram is read by the new generation, which
// opens a new upstream session for it (a new source port at the
// upstream): protocols where each request stands alone (DNS, syslog) see
// nothing; one that ties state to the source port sees a new peer. Set
// idle_timeout below drain_timeout, so that old sessions end by themselves.
//
// # Writing a handler
//
// A handler is a module of namespace "udp.handlers" that implements
// Handler; Echo is the smallest. The listener module reads the socket and
// calls it for each datagram.
package udp
