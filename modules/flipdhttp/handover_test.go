package flipdhttp

import (
	"net"
	"strings"
	"testing"

	"github.com/flipd/flipd"
)

// A moved connection of a kind the server does not know, or with no
// state at all, is refused with an error that says so; the runtime then
// closes it.
func TestAdoptConnRefusesWhatItCannotResume(t *testing.T) {
	logger, _ := newTestLogger(t)
	srv, err := load(t, logger, `{"module": "http"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		state []byte
		conns int
		want  string
	}{
		{"no state", nil, 1, "state is empty"},
		{"unknown kind", []byte{'x'}, 1, `unknown kind 'x'`},
		{"idle with two connections", []byte{movedIdle}, 2, "want 1 and 1"},
		{"idle with more state", []byte{movedIdle, 0}, 1, "want 1 and 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mc := flipd.MovedConn{State: tt.state}
			for range tt.conns {
				c, peer := net.Pipe()
				defer c.Close()
				defer peer.Close()
				mc.Conns = append(mc.Conns, c)
			}
			err := srv.AdoptConn(mc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AdoptConn = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if got := srv.HandoverKey(); got != "http/1" {
		t.Errorf("HandoverKey = %q, want %q", got, "http/1")
	}
}
