// Package greeter is a listener module written outside flipd, to show how
// anyone adds one: it answers every TCP connection with a greeting and
// the generation that served it, then closes. It writes only what
// happens to one connection (ServeConn); the runtime accepts, tracks
// and drains.
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
	"strings"
	"time"

	"github.com/flipd/flipd"
)

func init() { flipd.RegisterModule(new(Greeter)) }

// Greeter answers each connection with a line of greeting.
type Greeter struct {
	// Greeting is what every client reads. Default: "hello".
	Greeting string `json:"greeting,omitempty"`

	generation int
}

// FlipdModule registers Greeter as "listeners.greeter".
func (*Greeter) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.greeter", New: func() flipd.Module { return new(Greeter) }}
}

// Provision sets defaults. It opens no socket: the runtime does.
func (g *Greeter) Provision(ctx flipd.Context) error {
	if g.Greeting == "" {
		g.Greeting = "hello"
	}
	g.generation = ctx.Generation()
	return nil
}

// Validate refuses greetings that would break the line protocol.
func (g *Greeter) Validate() error {
	if strings.ContainsAny(g.Greeting, "\r\n") {
		return errors.New("greeting: must be one line")
	}
	return nil
}

// ServeConn greets one client; the runtime closes conn afterwards.
func (g *Greeter) ServeConn(ctx context.Context, conn net.Conn) error {
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := fmt.Fprintf(conn, "%s from generation %d\n", g.Greeting, g.generation)
	return err
}

// Interface guards.
var (
	_ flipd.ConnHandler = (*Greeter)(nil)
	_ flipd.Provisioner = (*Greeter)(nil)
	_ flipd.Validator   = (*Greeter)(nil)
)
