package flipdtls

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// earlyHandshakeTimeout bounds a handshake accepted before serving.
const earlyHandshakeTimeout = 10 * time.Second

// earlyAcceptor accepts on a listener while its generation obtains
// certificates, before the listener module serves it. When the listener
// is on the CA's tls-alpn-01 port (443), the CA's validation connects to
// this very socket, and nobody else would answer it: the first
// generation has no predecessor to accept for it. Challenge handshakes
// are answered and closed; other clients are handshaken and held, in
// order, for the listener module's first Accepts.
type earlyAcceptor struct {
	ln       deadlineListener
	cfg      *tls.Config
	stopping atomic.Bool
	loopDone chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

type deadlineListener interface {
	net.Listener
	SetDeadline(time.Time) error
}

// startEarlyAcceptor starts accepting on ln, or returns nil if ln cannot
// be interrupted without closing it.
func startEarlyAcceptor(ln net.Listener, cfg *tls.Config) *earlyAcceptor {
	dl, ok := ln.(deadlineListener)
	if !ok {
		return nil
	}
	a := &earlyAcceptor{ln: dl, cfg: cfg, loopDone: make(chan struct{})}
	go a.loop()
	return a
}

func (a *earlyAcceptor) loop() {
	defer close(a.loopDone)
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if a.stopping.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed: the start failed
		}
		a.wg.Add(1)
		go a.handshake(c)
	}
}

func (a *earlyAcceptor) handshake(c net.Conn) {
	defer a.wg.Done()
	tc := tls.Server(c, a.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), earlyHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil || tc.ConnectionState().NegotiatedProtocol == acmeTLS1 {
		tc.Close()
		return
	}
	a.mu.Lock()
	a.conns = append(a.conns, tc)
	a.mu.Unlock()
}

// stop stops accepting, leaving ln open, waits for the handshakes in
// progress, and returns the connections to serve.
func (a *earlyAcceptor) stop() []net.Conn {
	if a == nil {
		return nil
	}
	a.stopping.Store(true)
	a.ln.SetDeadline(time.Now())
	<-a.loopDone
	a.ln.SetDeadline(time.Time{})
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conns
}

// listener is what WrapListener returns: a TLS listener that first hands
// out the connections accepted early, while Start obtained certificates.
type listener struct {
	net.Listener
	raw net.Listener // the socket under TLS, for the early acceptor

	mu    sync.Mutex
	early []net.Conn
}

// hold keeps conns for the first Accepts.
func (l *listener) hold(conns []net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.early = append(l.early, conns...)
}

func (l *listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.early) > 0 {
		c := l.early[0]
		l.early = l.early[1:]
		l.mu.Unlock()
		return c, nil
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func (l *listener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	closeAll(l.early)
	l.early = nil
	l.mu.Unlock()
	return err
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}
