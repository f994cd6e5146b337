package tcp_test

import (
	"bufio"
	"context"
	"io"
	"net"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/modules/tcp"
)

func init() {
	flipd.RegisterModule(new(panicHandler))
	flipd.RegisterModule(new(goodbyeHandler))
}

// panicHandler panics on every connection.
type panicHandler struct{}

func (*panicHandler) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "tcp.handlers.test_panic", New: func() flipd.Module { return new(panicHandler) }}
}

func (*panicHandler) Handle(context.Context, net.Conn) error { panic("test panic") }

// goodbyeHandler answers each line with "ok"; once draining, it adds
// "bye" after the next answer and closes: a protocol with a goodbye.
type goodbyeHandler struct {
	draining chan struct{}
}

func (*goodbyeHandler) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "tcp.handlers.test_goodbye", New: func() flipd.Module {
		return &goodbyeHandler{draining: make(chan struct{})}
	}}
}

// goodbyeDrained tells the test that a goodbyeHandler's Drain was called.
var goodbyeDrained = make(chan struct{}, 1)

func (h *goodbyeHandler) Drain() {
	close(h.draining)
	goodbyeDrained <- struct{}{}
}

func (h *goodbyeHandler) Handle(_ context.Context, conn net.Conn) error {
	r := bufio.NewReader(conn)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			return err
		}
		// Looked at before answering, so that a drain that starts once
		// the client has its answer is seen at the next exchange.
		var draining bool
		select {
		case <-h.draining:
			draining = true
		default:
		}
		if _, err := io.WriteString(conn, "ok\n"); err != nil {
			return err
		}
		if draining {
			_, err := io.WriteString(conn, "bye\n")
			return err
		}
	}
}

var (
	_ tcp.Handler = (*panicHandler)(nil)
	_ tcp.Handler = (*goodbyeHandler)(nil)
	_ tcp.Drainer = (*goodbyeHandler)(nil)
)
