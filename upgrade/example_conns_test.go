package upgrade_test

import (
	"errors"
	"io"
	"log"
	"net"

	"github.com/flipd/flipd/upgrade"
)

// A TCP service whose open connections move to the new generation on an
// upgrade instead of keeping the old one alive. The new generation
// offers the keys it adopts before Ready, and adopts what comes after;
// the old one moves its connections once Upgrade has succeeded.
func ExampleUpgrader_ConnSender() {
	upg, err := upgrade.New(upgrade.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()

	// New generation: before Ready, say what this build adopts.
	if err := upg.OfferConns([]string{"echo/1"}); err != nil {
		log.Fatal(err)
	}
	if err := upg.Ready(); err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			key, state, files, err := upg.AcceptConn()
			if errors.Is(err, io.EOF) {
				return // the parent is done (or there is none)
			}
			if err != nil {
				log.Println("a moved connection was lost:", err)
				continue
			}
			c, err := net.FileConn(files[0])
			for _, f := range files {
				f.Close()
			}
			if err != nil {
				continue
			}
			log.Printf("adopted a %s connection with %d bytes of state", key, len(state))
			go serveEcho(c, state)
		}
	}()

	// Old generation, after a successful Upgrade: move what can move.
	<-upg.Exit()
	sender := upg.ConnSender()
	defer sender.Close()
	for _, c := range heldConns() { // connections stopped at a safe point
		if !sender.Accepts("echo/1") {
			break // drain them here instead
		}
		if err := sender.Send("echo/1", nil, c); err == nil {
			c.Close() // the socket lives on in the new generation
		}
	}
}

func serveEcho(c net.Conn, pending []byte) {
	defer c.Close()
	c.Write(pending)
	io.Copy(c, c)
}

func heldConns() []*net.TCPConn { return nil }
