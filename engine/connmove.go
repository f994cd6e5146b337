package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/upgrade"
)

// Established connections move between generations (flipd.ConnMover):
// the new generation offers, before it is ready, one key per listener
// whose server can adopt; the old one, once it has handed over, asks each
// of its movers whose key was accepted to move its connections, before it
// drains. A key names everything an adopted connection depends on: the
// listener's address, its wrappers, the module and the module's own
// HandoverKey; a listener dropped, a wrapper added (tls, say), another
// module or another HandoverKey gives another key, and those connections
// drain in the old generation as before.

// handoverKey is li's key, "" if its server does not move connections.
func (li *listener) handoverKey() string {
	m, ok := li.module.(flipd.ConnMover)
	if !ok || li.admin {
		return ""
	}
	k := m.HandoverKey()
	if k == "" {
		return ""
	}
	return fmt.Sprintf("%s wrappers=%s module=%s key=%s", li.addr, li.wrapperKey, li.moduleID, k)
}

// canonicalWrappers gives the wrappers' config in one canonical form
// (object keys sorted, no spaces), so that an equal config gives an
// equal key.
func canonicalWrappers(raws []json.RawMessage) string {
	vals := make([]any, 0, len(raws))
	for _, r := range raws {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			return "invalid"
		}
		vals = append(vals, v)
	}
	b, err := json.Marshal(vals)
	if err != nil {
		return "invalid"
	}
	return string(b)
}

// moveConnections is upgrade.move_connections (default true).
func (u UpgradeConfig) moveConnections() bool {
	return u.MoveConnections == nil || *u.MoveConnections
}

// offerConns tells the parent which connections this generation adopts,
// before it is ready, and adopts them once it is: each goes to the
// server of its listener. Without a parent, or with move_connections
// false, it offers none.
func (in *Instance) offerConns(l *loaded) {
	if !in.upg.HasParent() {
		return
	}
	byKey := make(map[string]flipd.ConnMover)
	var keys []string
	if l.cfg.Upgrade.moveConnections() {
		for _, li := range l.listeners {
			if k := li.handoverKey(); k != "" {
				byKey[k] = li.module.(flipd.ConnMover)
				keys = append(keys, k)
			}
		}
	}
	if err := in.upg.OfferConns(keys); err != nil {
		in.log.Warn("cannot offer to adopt connections; the previous generation drains them", "error", err)
		return
	}
	if len(keys) > 0 {
		inbound := make(chan struct{})
		in.mu.Lock()
		in.inbound = inbound
		in.mu.Unlock()
		go func() {
			defer close(inbound)
			in.adoptConns(byKey)
		}()
	}
}

// adoptConns runs until the parent is done moving connections.
func (in *Instance) adoptConns(byKey map[string]flipd.ConnMover) {
	n := 0
	for {
		key, state, files, err := in.upg.AcceptConn()
		if errors.Is(err, io.EOF) {
			in.log.Debug("the previous generation has moved its connections", "moved_conns", n)
			return
		}
		if err != nil {
			in.log.Warn("a moved connection was lost", "error", err)
			continue
		}
		conns, err := fileConns(files)
		if err == nil {
			err = in.adopt(byKey, key, flipd.MovedConn{Conns: conns, State: state})
		}
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			in.log.Warn("could not adopt a moved connection; it is closed", "key", key, "error", err)
			continue
		}
		n++
		in.mu.Lock()
		in.stats.MovedConns++
		in.mu.Unlock()
	}
}

// adopt has the server for key take mc. A server that cannot, because
// this generation has handed over in turn and drains (upgrades in quick
// succession: the previous generation still moves while the next one
// already serves), passes mc on to the next generation if it accepts the
// key, so that the connection lands where it is served rather than being
// closed with a request perhaps waiting in it.
func (in *Instance) adopt(byKey map[string]flipd.ConnMover, key string, mc flipd.MovedConn) error {
	m, ok := byKey[key]
	if !ok {
		return fmt.Errorf("no listener for key %q", key)
	}
	err := m.AdoptConn(mc)
	if err == nil {
		return nil
	}
	in.mu.Lock()
	onward := in.onward[key]
	in.mu.Unlock()
	if onward == nil {
		return err
	}
	if ferr := onward.Move(mc); ferr != nil {
		return errors.Join(err, fmt.Errorf("passing it on to the next generation: %w", ferr))
	}
	in.log.Debug("passed a moved connection on to the next generation", "key", key, "adopt_error", err)
	return nil
}

// waitInbound is called once this generation has drained, before it
// exits: it tells the previous generation, if that one may still be
// moving connections here, to stop (what it sends from then on fails, so
// it keeps those connections), and waits until the ones already on their
// way have been taken and passed on to the next generation (adopt), or
// ctx ends. Without it a connection sent while this process exits would
// die with it, its descriptor unread in the channel.
func (in *Instance) waitInbound(ctx context.Context) {
	in.mu.Lock()
	inbound := in.inbound
	in.mu.Unlock()
	if inbound == nil {
		return
	}
	if err := in.upg.StopAcceptingConns(); err != nil {
		in.log.Warn("could not tell the previous generation to stop moving connections here", "error", err)
	}
	select {
	case <-inbound:
	case <-ctx.Done():
		in.log.Warn("connections moved from the previous generation were still arriving when the drain ended")
	}
}

// fileConns makes connections of files, and closes the files.
func fileConns(files []*os.File) ([]net.Conn, error) {
	var conns []net.Conn
	var errs []error
	for _, f := range files {
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conns = append(conns, c)
	}
	if err := errors.Join(errs...); err != nil {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	return conns, nil
}

// moveConns asks every server whose key the new generation accepted to
// move its connections, before the drain; it returns the sinks, to
// count what moved.
func (in *Instance) moveConns(l *loaded, sender *upgrade.ConnSender) []*connSink {
	var sinks []*connSink
	for _, li := range l.listeners {
		k := li.handoverKey()
		if k == "" || !sender.Accepts(k) {
			continue
		}
		s := &connSink{sender: sender, key: k}
		sinks = append(sinks, s)
		in.mu.Lock()
		if in.onward == nil {
			in.onward = make(map[string]flipd.ConnSink)
		}
		in.onward[k] = s
		in.mu.Unlock()
		li.module.(flipd.ConnMover).MoveConns(s)
	}
	return sinks
}

// connSink passes one listener's connections to the new generation.
type connSink struct {
	sender *upgrade.ConnSender
	key    string
	moved  atomic.Int64
}

func (s *connSink) Move(mc flipd.MovedConn) error {
	scs := make([]syscall.Conn, len(mc.Conns))
	for i, c := range mc.Conns {
		sc, ok := c.(syscall.Conn)
		if !ok {
			return fmt.Errorf("a %T has no descriptor to pass", c)
		}
		scs[i] = sc
	}
	if len(mc.State) > flipd.MaxMovedState {
		return fmt.Errorf("state of %d bytes: at most %d", len(mc.State), flipd.MaxMovedState)
	}
	if err := s.sender.Send(s.key, mc.State, scs...); err != nil {
		return err
	}
	for _, c := range mc.Conns {
		c.Close()
	}
	s.moved.Add(1)
	return nil
}

func movedCount(sinks []*connSink) int64 {
	var n int64
	for _, s := range sinks {
		n += s.moved.Load()
	}
	return n
}
