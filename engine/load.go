package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/internal/modstate"
)

// loaded is a config whose modules are provisioned, ready to serve.
type loaded struct {
	raw       []byte
	cfg       *Config
	listeners []*listener // in name order
	cleanup   func() error
	state     *modstate.State
	ctx       context.Context // ends when the config is discarded
	log       hclog.Logger
	// started: the modules' Start hooks ran; their Stop hooks are due.
	started bool
}

// handoverState collects what the modules hand to the next generation.
func (l *loaded) handoverState() map[string][]byte {
	out := make(map[string][]byte, len(l.state.Handovers))
	for key, f := range l.state.Handovers {
		out[key] = f()
	}
	return out
}

// listener is one of a config's listeners.
type listener struct {
	name string
	addr Address
	opts SocketOptions
	// module serves the listener: the listener module, a ConnServer
	// running a ConnHandler module, or the admin API. For a udp address
	// packet serves it instead, and module is nil.
	module   flipd.Server
	packet   flipd.PacketServer
	wrappers []flipd.ListenerWrapper
	// sock is the socket, as the registry gave it (before wrappers);
	// inherited: it came from the previous generation (or systemd).
	sock      syscall.Conn
	inherited bool
	pc        net.PacketConn // for a packet listener, once opened
	served    chan error     // Serve's result, once serving
	// accepting is closed when Serve first calls Accept.
	accepting chan struct{}
	// admin: the admin API, which drains for minAdminDrain at least.
	admin bool
	// moduleID and wrapperKey (its wrappers' config, canonical) are part
	// of its handover key.
	moduleID   flipd.ModuleID
	wrapperKey string
}

// loadConfig parses raw and provisions every module in it, without
// opening a socket. On error, whatever was provisioned is cleaned up.
func loadConfig(parent context.Context, raw []byte, logger hclog.Logger, generation int, inherited map[string][]byte) (*loaded, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return loadParsed(parent, cfg, raw, logger, generation, inherited)
}

// loadParsed is loadConfig on raw as ParseConfig parsed it into cfg: a
// new generation parses its config before it loads it, to know how to
// log, and need not parse it again.
func loadParsed(parent context.Context, cfg *Config, raw []byte, logger hclog.Logger, generation int, inherited map[string][]byte) (*loaded, error) {
	ctx, cleanup := flipd.NewContext(parent, logger, storageDir(cfg), generation)
	state := modstate.Of(ctx)
	state.Inherited = inherited
	state.CloseSpread = time.Duration(cfg.Upgrade.CloseSpread)
	l := &loaded{raw: raw, cfg: cfg, cleanup: cleanup, state: state, ctx: ctx, log: ctx.Logger()}
	for _, name := range cfg.listenerNames() {
		ln, err := loadListener(ctx, name, cfg.Listeners[name], cfg.heads[name])
		if err != nil {
			return nil, errors.Join(&flipd.ConfigError{Field: "listeners." + name, Err: err}, cleanup())
		}
		l.listeners = append(l.listeners, ln)
	}
	if err := checkQUICPorts(l.listeners); err != nil {
		return nil, errors.Join(&flipd.ConfigError{Field: "listeners", Err: err}, cleanup())
	}
	return l, nil
}

// loadListener loads the listener name, whose config raw ParseConfig
// read head from.
func loadListener(ctx flipd.Context, name string, raw json.RawMessage, head listenerHead) (*listener, error) {
	lctx := modstate.ForListener(ctx, name, ctx.Logger().With("listener", name)).(flipd.Context)
	l := &listener{name: name, addr: head.addr, opts: head.opts, wrapperKey: canonicalWrappers(head.wrappers)}
	for i, wraw := range head.wrappers {
		mod, err := lctx.LoadModule("listener_wrappers", wraw)
		if err != nil {
			return nil, fmt.Errorf("wrappers[%d]: %w", i, err)
		}
		w, ok := mod.(flipd.ListenerWrapper)
		if !ok {
			return nil, fmt.Errorf("wrappers[%d]: module %s is not a listener wrapper", i, mod.FlipdModule().ID)
		}
		l.wrappers = append(l.wrappers, w)
	}
	loadedMod, err := modstate.LoadModule(lctx, "listeners", raw, append([]string{"address", "wrappers"}, socketOptionKeys...)...)
	if err != nil {
		return nil, err
	}
	mod := loadedMod.(flipd.Module)
	l.moduleID = mod.FlipdModule().ID
	if err := l.setModule(mod, lctx); err != nil {
		return nil, err
	}
	return l, checkQUIC(l)
}

// setModule makes mod serve l, if its contract fits l's address: a
// datagram module for udp, a stream module for the others.
func (l *listener) setModule(mod flipd.Module, lctx flipd.Context) error {
	id := mod.FlipdModule().ID
	_, isPacket := mod.(flipd.PacketListenerModule)
	_, isStream := mod.(flipd.ListenerModule)
	if _, ok := mod.(flipd.ConnHandler); ok {
		isStream = true
	}
	if l.addr.IsPacket() {
		if !isPacket {
			if isStream {
				return fmt.Errorf("module %q serves streams (tcp or unix sockets) and cannot serve %s: use a datagram module, such as \"udp\", or a tcp address", id.Name(), l.addr)
			}
			return fmt.Errorf("module %s is not a packet listener module: it needs ServePacket and Drain (flipd.PacketListenerModule) to serve %s", id, l.addr)
		}
		l.packet = mod.(flipd.PacketListenerModule)
		return nil
	}
	if isPacket && !isStream {
		return fmt.Errorf("module %q serves datagrams and needs a udp address (\"udp/HOST:PORT\"), not %s", id.Name(), l.addr)
	}
	switch m := mod.(type) {
	case flipd.ListenerModule:
		l.module = m
	case flipd.ConnHandler:
		l.module = &flipd.ConnServer{Handler: m, Logger: lctx.Logger().Named(id.Name())}
	default:
		return fmt.Errorf("module %s is not a listener module: it needs a ServeConn method (flipd.ConnHandler), or Serve and Drain (flipd.ListenerModule)", id)
	}
	return nil
}

// serve opens (or inherits) every listener's socket and wraps it, runs
// the modules' Start hooks, and starts every listener's server. If any
// socket cannot be had, the ones opened are closed and the error names
// the listener and address; if a Start fails, or a Serve, the error names
// the module or listener, and the modules started are stopped.
func (l *loaded) serve(reg sockets) error {
	lns := make([]net.Listener, len(l.listeners))
	fail := func(err error) error {
		for i, ln := range lns {
			if ln != nil {
				ln.Close()
			}
			if pc := l.listeners[i].pc; pc != nil {
				pc.Close()
			}
		}
		return err
	}
	for i, li := range l.listeners {
		if li.addr.IsPacket() {
			if err := li.listenPacket(reg); err != nil {
				return fail(fmt.Errorf("listener %q: %s: %w", li.name, li.addr, unwrapOpError(err)))
			}
			continue
		}
		ln, err := li.listen(reg)
		if err != nil {
			return fail(fmt.Errorf("listener %q: %s: %w", li.name, li.addr, unwrapOpError(err)))
		}
		lns[i] = ln
		for j, w := range li.wrappers {
			if ln, err = w.WrapListener(ln); err != nil {
				return fail(fmt.Errorf("listener %q: wrappers[%d]: %w", li.name, j, err))
			}
			lns[i] = ln
		}
	}
	sctx, cancel := context.WithTimeout(l.ctx, l.cfg.Upgrade.Timeout.Or(DefaultUpgradeTimeout))
	defer cancel()
	if err := l.start(sctx); err != nil {
		return fail(err)
	}
	routers, err := l.serveQUIC(reg, lns)
	if err != nil {
		closeRouters(routers)
		return fail(errors.Join(err, l.stop(context.Background())))
	}
	for i, li := range l.listeners {
		if li.packet != nil {
			// Served once ready: see servePackets.
			li.accepting = make(chan struct{})
			close(li.accepting)
			continue
		}
		li.served = make(chan error, 1)
		ln := &startListener{Listener: lns[i], accepting: make(chan struct{})}
		li.accepting = ln.accepting
		go func(li *listener) { li.served <- li.module.Serve(ln) }(li)
	}
	if err := l.awaitServing(); err != nil {
		closeRouters(routers)
		return fail(errors.Join(err, l.stop(context.Background())))
	}
	return nil
}

// unwrapOpError shortens "upgrade: can't create listener tcp 1.2.3.4:80:
// listen tcp 1.2.3.4:80: bind: address already in use" to its last part,
// since the caller names the listener and address already.
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return fmt.Errorf("%s: %w", op.Op, op.Err)
	}
	return err
}

// openConns adds up what the listener modules report.
func (l *loaded) openConns() int {
	n := 0
	for _, li := range l.listeners {
		if c, ok := li.module.(flipd.ConnCounter); ok {
			n += c.OpenConns()
		}
	}
	return n
}

// openSessions adds up the sessions the packet listener modules report.
func (l *loaded) openSessions() int {
	n := 0
	for _, li := range l.listeners {
		if c, ok := li.packet.(flipd.SessionCounter); ok {
			n += c.OpenSessions()
		}
	}
	return n
}

// drain drains li's server, whichever kind it is.
func (li *listener) drain(ctx context.Context) error {
	if li.packet != nil {
		return li.packet.Drain(ctx)
	}
	return li.module.Drain(ctx)
}
