// Package quicroute keeps QUIC connections alive across an upgrade made
// with package upgrade. A QUIC server's one UDP socket both listens and
// carries every connection's packets, so after a plain handover the new
// process receives packets for connections it does not know, and the old
// process's connections die. quicroute routes each packet to the
// generation that owns its connection instead.
//
// # Usage
//
//	upg, _ := upgrade.New(upgrade.Options{})
//	r, err := quicroute.New(upg, "udp", "127.0.0.1:443", quicroute.Options{})
//	ln, err := r.Transport().ListenEarly(tlsConf, quicConf)
//	srv := &http3.Server{Handler: h}
//	go srv.ServeListener(ln)
//	upg.Ready()
//	<-upg.Exit()       // the next generation is ready
//	r.HandOver()       // it reads the socket now; new connections go there
//	srv.Shutdown(ctx)  // GOAWAY; streams finish; forwarded packets keep arriving
//	ln.Close()
//	r.Close()
//
// Serve on r.Transport() only: its connection IDs, keys and packet source
// are the router's.
//
// # The packet path
//
// Every connection ID a generation's Transport issues (its first source
// ID, NEW_CONNECTION_ID, Retry) is 16 bytes: one AES block that encrypts
// the generation number, a 32-bit check value and 8 random bytes, under a
// key every generation shares. An observer cannot link two IDs of one
// connection nor read the generation; every generation can.
//
// The newest generation reads the shared socket and, for each datagram:
//
//   - a short-header packet (1-RTT) whose destination ID decrypts to its
//     own generation goes to its Transport; to an older generation still
//     alive, is forwarded there; to nothing (a random ID, or a generation
//     that has exited) is dropped. It is never handed to the Transport,
//     which would answer it with a stateless reset: with the shared key,
//     a valid one that would kill a connection an older generation owns.
//   - a long-header packet whose ID decrypts to another generation (the
//     handshake of a connection that began there) is forwarded; any other
//     long header (Initial and 0-RTT packets carry client-chosen IDs)
//     goes to the newest generation.
//   - an empty, truncated or malformed datagram is dropped.
//
// Forwarding uses a link per generation: a unixgram socketpair that
// generation creates at New. It keeps one end and reads from it; the
// other end goes to the next generation as a named file of package
// upgrade (Fds.AddFile), and every later generation claims it (Fds.File)
// for as long as that generation is among upgrade's Elders, so the
// newest holds a link to every generation still draining; a link whose
// generation has exited is not claimed and upgrade closes it after
// Ready. A forwarded datagram is the client's address and port followed
// by the packet; the receiving generation's Transport reads it, with the
// original client address, from a net.PacketConn of its own, and writes
// its answers straight to the shared UDP socket, of which every
// generation keeps a copy. Sends on a link never block: a full queue or
// a generation that has exited drops the packet, and QUIC recovers from
// the loss.
//
// A new generation reads the shared socket from New on, and says so to
// its parent with a hello (its pid) on the parent's link; the parent stops
// reading when upgrade's Exit channel closes (the new generation is
// ready) and a hello has arrived from a process still alive (the child of
// an upgrade that failed said hello too, and has exited). Without a hello (the new config has
// no QUIC on this socket, or moved it to another port), or at a final
// Stop, the parent keeps reading its socket while it drains, so its
// connections still get their packets. While
// both read, each routes what it reads, in both directions: the parent
// forwards packets of the new generation's connections over its own
// link, which the new generation reads. New connections (long headers
// with a client-chosen ID: Initial and 0-RTT packets) are the new
// generation's from its hello on: the parent passes those it reads over
// its link too, so that all of a connection's Initial packets reach one
// generation (a ClientHello split over two packets would otherwise
// stall until the client retransmits it), and no connection begins in a
// generation about to tell it GOAWAY. If the new generation fails, the
// parent never stopped reading and, once it sees that process gone,
// keeps new connections again; connections begun in the failed one are
// lost, and clients whose Initial packets it consumed retransmit them.
//
// # Keys, tokens and 0-RTT
//
// A 32-byte secret, made by the first generation and passed on as a
// named file (a memfd on Linux, an unlinked temporary file elsewhere),
// gives every generation the same connection ID cipher, the same
// stateless reset key (so no generation's reset tokens differ from the
// ones an older generation announced) and the same token key (so address
// validation tokens and Retry tokens issued before an upgrade are valid
// after it). 0-RTT needs nothing from the router: 0-RTT packets are long
// headers with the client's ID, so they reach the newest generation
// together with the Initial they follow. Whether the newest can accept
// the early data depends on the TLS session ticket keys, which are the
// caller's: with keys shared across generations (the flipd tls module
// passes its ticket keys on) resumption and 0-RTT work across an upgrade;
// with per-process keys the client falls back to a full handshake and
// resends its early data as 1-RTT. Replay protection is quic-go's, as
// without the router.
//
// # Limits
//
//   - The Transport's packet conn is not a *net.UDPConn, so quic-go runs
//     without batched reads, GSO, ECN and the DF bit (so without path MTU
//     discovery: packets stay at QUIC's 1200-byte minimum).
//   - Every packet crosses a channel into the Transport, and forwarded ones
//     a unix socket as well.
//   - A client that migrates to a new address during the upgrade is
//     served like any other (routing is by connection ID, not address).
//   - Linux and other unix systems; New fails on Windows.
package quicroute
