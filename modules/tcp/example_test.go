package tcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/modules/tcp"
)

// A tcp listener with the echo handler, built from its config as the
// runtime builds it, then drained as in a handover.
func ExampleServer() {
	ctx, cleanup := flipd.NewContext(context.Background(), nil, "", 1)
	defer cleanup()
	mod, err := ctx.LoadModule("listeners", json.RawMessage(`{"module": "tcp", "handle": {"module": "echo"}, "idle_timeout": "5m"}`))
	if err != nil {
		log.Fatal(err)
	}
	srv := mod.(*tcp.Server)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(c, "ping")
	c.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(c)
	c.Close()
	fmt.Println(string(reply))

	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("drain:", srv.Drain(dctx), "serve:", <-served, "open:", srv.OpenConns())
	// Output:
	// ping
	// drain: <nil> serve: <nil> open: 0
}
