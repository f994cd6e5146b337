package engine

import (
	"errors"
	"net"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

// drainingMover is a server that has begun to drain: it adopts nothing.
type drainingMover struct {
	flipd.ConnServer
	adopted int
}

func (d *drainingMover) HandoverKey() string      { return "k" }
func (d *drainingMover) MoveConns(flipd.ConnSink) {}
func (d *drainingMover) AdoptConn(flipd.MovedConn) error {
	return errors.New("draining: cannot adopt a connection")
}

type recordingSink struct {
	moved []flipd.MovedConn
	err   error
}

func (s *recordingSink) Move(mc flipd.MovedConn) error {
	if s.err != nil {
		return s.err
	}
	s.moved = append(s.moved, mc)
	return nil
}

// With upgrades in quick succession, the previous generation may still
// be moving connections to this one when this one has handed over to the
// next and drains. Such a connection goes on to the next generation; it
// used to be closed, with whatever request waited in it.
func TestAConnectionMovedToADrainingGenerationGoesOnToTheNextOne(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	mc := flipd.MovedConn{Conns: []net.Conn{server}, State: []byte{'i'}}
	byKey := map[string]flipd.ConnMover{"k": &drainingMover{}}

	in := &Instance{log: hclog.NewNullLogger()}
	if err := in.adopt(byKey, "k", mc); err == nil {
		t.Fatal("adopt succeeded with a draining server and nowhere to pass the connection on")
	}

	next := &recordingSink{}
	in.onward = map[string]flipd.ConnSink{"k": next}
	if err := in.adopt(byKey, "k", mc); err != nil {
		t.Fatalf("adopt with a next generation that accepts the key: %v", err)
	}
	if len(next.moved) != 1 || next.moved[0].Conns[0] != server || string(next.moved[0].State) != "i" {
		t.Fatalf("the next generation got %+v, want the connection and its state", next.moved)
	}

	next.err = errors.New("the next generation is gone")
	if err := in.adopt(byKey, "k", mc); err == nil {
		t.Fatal("adopt succeeded though passing the connection on failed")
	}
	if err := in.adopt(byKey, "other", mc); err == nil {
		t.Fatal("adopt succeeded for a key no listener has")
	}
}
