// Package engine turns package upgrade into a daemon: it loads a JSON
// config, builds its listener modules, serves, and reloads by re-executing
// itself with the new config, so that the new generation provisions
// everything before the old one stops.
//
// It holds what runs modules, not what a module is: [Start] and the
// [Instance] it returns (Reload, Upgrade, Stop, Status, Stats, readiness),
// the config ([Config], [ParseConfig], [Validate], and the admin, upgrade,
// storage and logging sections), the listener registry, the generations
// and the PID file. cmd/flipdcmd and the admin API import it. A module
// imports the SDK, package github.com/flipd/flipd, which this package
// imports and which never imports it; the two meet in the unexported
// state of a flipd.Context (see internal/modstate).
//
// # Listeners and their sockets
//
// A listener's address is its key in the registry of package upgrade:
// "tcp/...", "unix/..." sockets are listeners, served by a
// flipd.ListenerModule or flipd.ConnHandler; "udp/...", "udp4/...",
// "udp6/..." sockets are packet conns, served by a
// flipd.PacketListenerModule, which gets the *net.UDPConn itself. A
// stream module on a udp address, or a packet module on another, is a
// config error that names both. A new generation inherits every socket
// whose key its config keeps; stream listeners serve before it reports
// ready (their accept queue holds what arrives meanwhile), packet
// listeners right after (the old generation reads until it is told to
// stop, and datagrams wait in the socket's receive buffer between the
// two). Socket options ([SocketOptions]) are set when a socket is
// created, and applied again in place to an inherited one, once the new
// generation serves; what cannot change on a bound socket is refused by
// the reload.
package engine
