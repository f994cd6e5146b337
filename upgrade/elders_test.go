//go:build linux

package upgrade

import (
	"os"
	"strings"
	"testing"
)

// An elder whose liveness pipe cannot be duplicated, though it has not
// exited, must not vanish from the count: the upgrade fails instead.
func TestDupEldersFailsRatherThanDropLiveElder(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close() // dup fails, as with EMFILE
	u := &Upgrader{elders: []*elder{{pid: 4242, generation: 3, pipe: r, exited: make(chan struct{})}}}
	gens, fds, err := u.dupElders()
	if err == nil || !strings.Contains(err.Error(), "4242") {
		t.Fatalf("dupElders = %v, %v, %v; want an error naming pid 4242", gens, fds, err)
	}

	exited := make(chan struct{})
	close(exited) // an elder that has exited is dropped, as before
	u.elders[0].exited = exited
	if gens, _, err := u.dupElders(); err != nil || len(gens) != 0 {
		t.Fatalf("dupElders with an exited elder = %v, %v", gens, err)
	}
}
