// Package greeter is a listener module written outside flipd, to show how
// anyone adds one: it answers every TCP connection with a greeting and
// the generation that served it, then closes.
//
// Config:
//
//	{"address": "tcp/127.0.0.1:7001", "module": "greeter", "greeting": "hi"}
package greeter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/flipd/flipd/runtime"
	"github.com/flipd/flipd/runtime/drain"
)

func init() { runtime.RegisterModule(new(Greeter)) }

// Greeter answers each connection with a line of greeting.
type Greeter struct {
	// Greeting is what every client reads. Default: "hello".
	Greeting string `json:"greeting,omitempty"`

	generation int
	ln         net.Listener
	conns      drain.Conns
}

// FlipdModule registers Greeter as "listeners.greeter".
func (*Greeter) FlipdModule() runtime.ModuleInfo {
	return runtime.ModuleInfo{ID: "listeners.greeter", New: func() runtime.Module { return new(Greeter) }}
}

// Provision sets defaults. It opens no socket: the runtime does.
func (g *Greeter) Provision(ctx runtime.Context) error {
	if g.Greeting == "" {
		g.Greeting = "hello"
	}
	g.generation = ctx.Generation()
	return nil
}

// Validate refuses greetings that would break the line protocol.
func (g *Greeter) Validate() error {
	for _, r := range g.Greeting {
		if r == '\n' || r == '\r' {
			return errors.New("greeting: must be one line")
		}
	}
	return nil
}

// Serve greets every connection on ln until Drain closes it.
func (g *Greeter) Serve(ln net.Listener) error {
	g.ln = ln
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond) // EMFILE and the like
			continue
		}
		go func(c net.Conn) {
			c = g.conns.Track(c)
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s from generation %d\n", g.Greeting, g.generation)
		}(c)
	}
}

// Drain stops accepting and waits for greetings being written.
func (g *Greeter) Drain(ctx context.Context) error {
	if g.ln != nil {
		g.ln.Close()
	}
	return g.conns.Drain(ctx)
}

// OpenConns reports the connections being greeted.
func (g *Greeter) OpenConns() int { return g.conns.Len() }

var (
	_ runtime.ListenerModule = (*Greeter)(nil)
	_ runtime.Provisioner    = (*Greeter)(nil)
	_ runtime.Validator      = (*Greeter)(nil)
	_ runtime.ConnCounter    = (*Greeter)(nil)
)
