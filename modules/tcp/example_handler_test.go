package tcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/modules/tcp"
)

func init() {
	flipd.RegisterModule(new(Greeter))
}

// Greeter is a handler of one's own: it greets each client and closes.
//
//	"handle": {"module": "greeter", "greeting": "hi"}
type Greeter struct {
	// Greeting is written to each client. Default: "hello".
	Greeting string `json:"greeting,omitempty"`
}

func (*Greeter) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "tcp.handlers.greeter", New: func() flipd.Module { return new(Greeter) }}
}

func (g *Greeter) Provision(flipd.Context) error {
	if g.Greeting == "" {
		g.Greeting = "hello"
	}
	return nil
}

// Handle needs no Close: the listener closes conn when Handle returns.
func (g *Greeter) Handle(_ context.Context, conn net.Conn) error {
	_, err := io.WriteString(conn, g.Greeting+"\n")
	return err
}

var _ tcp.Handler = (*Greeter)(nil)

func ExampleHandler() {
	ctx, cleanup := flipd.NewContext(context.Background(), nil, "", 1)
	defer cleanup()
	mod, err := ctx.LoadModule("listeners", json.RawMessage(`{"module": "tcp", "handle": {"module": "greeter", "greeting": "hi"}}`))
	if err != nil {
		log.Fatal(err)
	}
	srv := mod.(*tcp.Server)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Drain(context.Background())

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	greeting, _ := io.ReadAll(c)
	fmt.Print(string(greeting))
	// Output: hi
}
