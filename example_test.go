package flipd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/flipd/flipd"
)

func init() { flipd.RegisterModule(new(Shout)) }

// Shout answers every line with the line in upper case: the package
// doc's recipe, as written there.
type Shout struct {
	// Prefix starts every answer. Default: none.
	Prefix string `json:"prefix,omitempty"`
}

func (*Shout) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.shout", New: func() flipd.Module { return new(Shout) }}
}

// ServeConn serves one client; the runtime closes conn afterwards.
func (s *Shout) ServeConn(ctx context.Context, conn net.Conn) error {
	lines := bufio.NewScanner(conn)
	for lines.Scan() {
		if _, err := conn.Write([]byte(s.Prefix + strings.ToUpper(lines.Text()) + "\n")); err != nil {
			return err
		}
	}
	return lines.Err()
}

// A ConnHandler module, loaded from its JSON as the runtime loads it and
// served by the runtime's accept loop.
func ExampleConnServer() {
	ctx, cleanup := flipd.NewContext(context.Background(), nil, "", 1)
	defer cleanup()
	mod, err := ctx.LoadModule("listeners", json.RawMessage(`{"module": "shout", "prefix": "> "}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &flipd.ConnServer{Handler: mod.(flipd.ConnHandler)}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	c, _ := net.Dial("tcp", ln.Addr().String())
	fmt.Fprintln(c, "hello")
	answer, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(answer)
	c.Close()

	fmt.Println("drain:", srv.Drain(context.Background()), "serve:", <-served)
	// Output:
	// > HELLO
	// drain: <nil> serve: <nil>
}

// A handler whose connections move to the new generation on a reload: it
// answers each line, and when asked to move it wakes its blocked Read and
// hands the bytes it had buffered to the next generation.
type movingLines struct{}

func (movingLines) ServeConn(ctx context.Context, conn net.Conn) error {
	return movingLines{}.serve(ctx, conn, nil)
}

func (movingLines) HandoverKey() string { return "lines/1" }

func (movingLines) ResumeConn(ctx context.Context, mc flipd.MovedConn) error {
	mc.Conns[0].SetReadDeadline(time.Time{}) // a failed move left one set
	return movingLines{}.serve(ctx, mc.Conns[0], mc.State)
}

func (movingLines) serve(ctx context.Context, conn net.Conn, buffered []byte) error {
	go func() {
		select {
		case <-flipd.Moving(ctx):
			conn.SetReadDeadline(time.Now()) // wake the Read below
		case <-ctx.Done():
		}
	}()
	r := bufio.NewReader(io.MultiReader(bytes.NewReader(buffered), conn))
	for {
		line, err := r.ReadString('\n')
		if errors.Is(err, os.ErrDeadlineExceeded) && line == "" {
			rest, _ := r.Peek(r.Buffered()) // read, not yet answered
			return flipd.Move(rest)
		}
		if err != nil {
			return err
		}
		conn.Write([]byte(line))
	}
}

func ExampleMovableConnHandler() {
	var _ flipd.MovableConnHandler = movingLines{}
	fmt.Println(movingLines{}.HandoverKey())
	// Output: lines/1
}
