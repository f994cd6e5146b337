package greeter_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/examples/custom-module/greeter"
	"github.com/flipd/flipd/flipdtest"
)

// A module can be tested on its own: provision it from JSON as the runtime
// does, serve it on a socket of the test's with the runtime's accept loop,
// drain it.
func TestGreeter(t *testing.T) {
	log, _ := flipdtest.NewLogger(t)
	mod, err := flipdtest.Load(t, log, "listeners", []byte(`{"module": "greeter", "greeting": "hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := &flipd.ConnServer{Handler: mod.(*greeter.Greeter), Logger: log}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || strings.TrimSpace(line) != "hi from generation 1" {
		t.Fatalf("got %q, %v", line, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Drain: %v", err)
	}
}

func TestGreeterRefusesMultiLineGreeting(t *testing.T) {
	log, _ := flipdtest.NewLogger(t)
	_, err := flipdtest.Load(t, log, "listeners", []byte(`{"module": "greeter", "greeting": "a\nb"}`))
	if err == nil || !strings.Contains(err.Error(), "greeting: must be one line") {
		t.Fatalf("Load: %v", err)
	}
}
