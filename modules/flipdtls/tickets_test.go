package flipdtls

import (
	"bytes"
	"crypto/tls"
	"testing"
	"time"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

func TestSessionResumesAcrossGenerations(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "a", tlstest.LeafOptions{Names: []string{"a.test"}})
	config := filesConfig("", leaf)

	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			client := &tls.Config{ServerName: "a.test", RootCAs: ca.Pool(), MaxVersion: version,
				ClientSessionCache: tls.NewLRUClientSessionCache(8)}
			resumes := func(addr string) bool {
				t.Helper()
				// A request, not a bare handshake: a TLS 1.3 ticket comes
				// after the handshake, with the first data read.
				_, st, err := request(addr, client)
				if err != nil {
					t.Fatal(err)
				}
				return st.DidResume
			}

			ring := new(ticketRing)
			gen1 := mustProvision(t, t.TempDir(), config, ring).serve(t)
			if resumes(gen1) {
				t.Fatal("the first connection resumed")
			}
			if !resumes(gen1) {
				t.Fatal("no resumption within one generation")
			}

			// What the runtime hands to the next generation.
			next := new(ticketRing)
			if err := next.adopt(ring.marshal()); err != nil {
				t.Fatal(err)
			}
			gen2 := mustProvision(t, t.TempDir(), config, next).serve(t)
			if !resumes(gen2) {
				t.Fatal("a session of generation 1 did not resume against generation 2")
			}

			// Control: a generation that was handed nothing.
			stranger := mustProvision(t, t.TempDir(), config, new(ticketRing)).serve(t)
			if resumes(stranger) {
				t.Fatal("resumed against a generation with other keys")
			}
		})
	}
}

func TestTicketRingRotates(t *testing.T) {
	var r ticketRing
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keys, v1, err := r.rotate(t0, time.Hour, 3)
	if err != nil || len(keys) != 1 {
		t.Fatalf("first rotate: %d keys, %v", len(keys), err)
	}
	if _, v, _ := r.rotate(t0.Add(59*time.Minute), time.Hour, 3); v != v1 {
		t.Fatal("rotated before rotate_every")
	}
	var versions []uint64
	for i := 1; i <= 4; i++ {
		keys, v, _ := r.rotate(t0.Add(time.Duration(i)*time.Hour), time.Hour, 3)
		versions = append(versions, v)
		if want := min(i+1, 3); len(keys) != want {
			t.Fatalf("after %d rotations: %d keys, want %d", i, len(keys), want)
		}
	}
	if versions[0] == v1 || versions[3] == versions[2] {
		t.Fatalf("versions did not change: %v", versions)
	}
	if !r.keys[0].Created.Equal(t0.Add(4 * time.Hour)) {
		t.Fatalf("the newest key is from %s", r.keys[0].Created)
	}

	// The schedule carries across a handover: the next generation does
	// not rotate early.
	var next ticketRing
	if err := next.adopt(r.marshal()); err != nil {
		t.Fatal(err)
	}
	got, _, _ := next.rotate(t0.Add(4*time.Hour+time.Minute), time.Hour, 3)
	want, _, _ := r.rotate(t0.Add(4*time.Hour+time.Minute), time.Hour, 3)
	if len(got) != len(want) || !bytes.Equal(got[0][:], want[0][:]) {
		t.Fatal("the keys handed over differ from the ones in use")
	}
	// A process that has keys keeps them.
	if err := next.adopt(new(ticketRing).marshal()); err != nil || len(next.keys) != 3 {
		t.Fatalf("adopting over existing keys: %d keys, %v", len(next.keys), err)
	}
	for _, bad := range []string{`{"version": 2, "keys": []}`, `{"version": 1, "keys": [{"key": "c2hvcnQ="}]}`, `not json`} {
		if err := new(ticketRing).adopt([]byte(bad)); err == nil {
			t.Fatalf("adopted %s", bad)
		}
	}
}

func TestTicketRotationOnSchedule(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "a", tlstest.LeafOptions{Names: []string{"a.test"}})
	ring := new(ticketRing)
	g := mustProvision(t, t.TempDir(), filesConfig(`, "session_tickets": {"rotate_every": "1s", "keep": 3}`, leaf), ring)
	addr := g.serve(t)
	client := &tls.Config{ServerName: "a.test", RootCAs: ca.Pool(), ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	if _, _, err := request(addr, client); err != nil {
		t.Fatal(err)
	}
	ring.mu.Lock()
	first := ring.version
	ring.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ring.mu.Lock()
		v, n := ring.version, len(ring.keys)
		ring.mu.Unlock()
		if v != first && n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the keys did not rotate within 10s with rotate_every 1s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A ticket made with the previous key still resumes.
	if _, st, err := request(addr, client); err != nil || !st.DidResume {
		t.Fatalf("after a rotation: resumed %v, %v", st.DidResume, err)
	}

	off := mustProvision(t, t.TempDir(), filesConfig(`, "session_tickets": {"disabled": true}`, leaf), new(ticketRing))
	if !off.w.tlsCfg.SessionTicketsDisabled {
		t.Fatal("disabled session tickets are on")
	}
}
