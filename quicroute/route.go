package quicroute

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"
)

// readShared reads the shared socket while this generation is the
// newest. When the next generation is ready (the upgrader's Exit), the
// router closes its reading copy, and that ends the loop: from then on
// the next generation reads, and forwards here what is ours.
func (r *Router) readShared() {
	defer r.wg.Done()
	defer close(r.sharedDone)
	defer r.closeElders() // only the newest forwards to them
	defer r.newest.Store(false)
	udp, _ := r.shared.(*net.UDPConn)
	buf := make([]byte, maxPacket)
	fwd := make([]byte, 0, maxForward)
	for {
		var (
			n    int
			from netip.AddrPort
			err  error
		)
		if udp != nil {
			n, from, err = udp.ReadFromUDPAddrPort(buf)
		} else {
			var addr net.Addr
			n, addr, err = r.shared.ReadFrom(buf)
			if ua, ok := addr.(*net.UDPAddr); ok {
				from = ua.AddrPort()
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				r.log.Debug("stopped reading the shared socket: the next generation reads it")
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			r.log.Warn("reading the shared socket failed", "error", err)
			continue
		}
		if n == len(buf) || !from.IsValid() {
			r.dropped.Add(1) // larger than any QUIC packet: cut, so useless
			r.counts.dropMalform.Add(1)
			continue
		}
		fwd = r.route(buf[:n], from, fwd[:0])
	}
}

// route hands one datagram to this generation's Transport or forwards it
// to the generation its connection ID names.
func (r *Router) route(data []byte, from netip.AddrPort, fwd []byte) []byte {
	v, gen := classify(r.codec, r.gen, data)
	switch v {
	case local:
		if clientChosen(r.codec, data) {
			if fwd, done := r.toChild(data, from, fwd); done {
				return fwd
			}
		}
		if data[0]&longHeaderBit != 0 {
			r.counts.localLong.Add(1)
		} else {
			r.counts.localShort.Add(1)
		}
		r.deliver(data, net.UDPAddrFromAddrPort(from))
	case forward:
		link := r.linkTo(gen)
		if link == nil || r.noFwd {
			r.dropped.Add(1)
			if r.noFwd {
				r.counts.dropNoFwd.Add(1)
			} else {
				r.counts.dropNoLink.Add(1)
			}
			return fwd
		}
		fwd = appendForward(fwd, from, data)
		if err := trySend(link, fwd); err != nil {
			r.dropped.Add(1) // that generation has exited, or its queue is full
			r.counts.sendFailed(err)
			return fwd
		}
		r.forwarded.Add(1)
		if gen > r.gen {
			r.counts.fwdNewer.Add(1)
		} else {
			r.counts.fwdOlder.Add(1)
		}
	default:
		r.dropped.Add(1)
		r.counts.dropMalform.Add(1)
	}
	return fwd
}

// toChild passes a new connection's packet to the next generation, if
// one reads the socket too (it said hello) and still runs: a connection
// that begins now would be told GOAWAY here as soon as that one is
// ready, and the retry of a request it refused could land on another
// such connection. All of a connection's Initial packets thus go to one
// generation, whichever of the two reads them. done is false if the
// packet stays here.
func (r *Router) toChild(data []byte, from netip.AddrPort, fwd []byte) (_ []byte, done bool) {
	select {
	case <-r.successor:
	default:
		return fwd, false
	}
	if now := time.Now(); now.Sub(r.childCheck) > childCheckEvery {
		r.childCheck, r.childAlive = now, r.successorAlive()
	}
	if !r.childAlive {
		return fwd, false // the upgrade failed: new connections stay here
	}
	fwd = appendForward(fwd, from, data)
	if err := trySend(r.own, fwd); err != nil {
		r.dropped.Add(1)
		r.counts.sendFailed(err)
		return fwd, true // the client sends it again
	}
	r.forwarded.Add(1)
	r.counts.initialsToChild.Add(1)
	return fwd, true
}

// childCheckEvery bounds how often readShared asks whether the next
// generation still runs.
const childCheckEvery = 20 * time.Millisecond

// linkTo is where packets of generation gen go: an older generation's
// link, or, for a newer one that is starting while this one still reads
// the shared socket, this generation's own link, which it reads.
func (r *Router) linkTo(gen uint32) *net.UnixConn {
	if gen > r.gen {
		return r.own
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.elders[gen]
}

func (r *Router) deliver(data []byte, from net.Addr) {
	p := packet{data: append([]byte(nil), data...), addr: from}
	if !r.conn.deliver(p) {
		r.dropped.Add(1)
		r.counts.dropQueue.Add(1)
	}
}

// readLink reads packets another generation forwarded here: on this
// generation's own link, from newer ones; on an older one's link (elder),
// from that one while it still reads the shared socket during the
// upgrade. Only packets that are this generation's are taken.
func (r *Router) readLink(link *net.UnixConn, elder bool) {
	defer r.wg.Done()
	buf := make([]byte, maxForward+1)
	for {
		n, err := link.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			r.log.Warn("reading a link failed", "elder", elder, "error", err)
			return
		}
		if n == 5 && buf[0] == helloByte && !elder {
			r.sayHello(int(binary.BigEndian.Uint32(buf[1:5])))
			continue
		}
		from, data, err := parseForward(buf[:n])
		if err != nil || n > maxForward {
			r.dropped.Add(1)
			r.counts.dropMalform.Add(1)
			continue
		}
		if v, _ := classify(r.codec, r.gen, data); v != local {
			r.dropped.Add(1)
			r.counts.dropNotMine.Add(1)
			continue
		}
		r.counts.fromLink.Add(1)
		r.deliver(data, from)
	}
}
