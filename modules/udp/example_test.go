package udp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/modules/udp"
)

// A udp listener with the echo handler, built from its config as the
// runtime builds it, then drained as in a handover.
func ExampleServer() {
	ctx, cleanup := flipd.NewContext(context.Background(), nil, "", 1)
	defer cleanup()
	mod, err := ctx.LoadModule("listeners", json.RawMessage(`{"module": "udp", "handle": {"module": "echo"}}`))
	if err != nil {
		log.Fatal(err)
	}
	srv := mod.(*udp.Server)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServePacket(pc) }()

	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	fmt.Println(string(buf[:n]))

	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("drain:", srv.Drain(dctx), "serve:", <-served, "sessions:", srv.OpenSessions())
	// Output:
	// ping
	// drain: <nil> serve: <nil> sessions: 0
}
