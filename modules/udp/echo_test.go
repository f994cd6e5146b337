package udp_test

import (
	"fmt"
	"testing"
)

func TestEchoSendsEachDatagramBackToItsSender(t *testing.T) {
	_, pc, _ := serve(t, `{"module": "udp", "handle": {"module": "echo"}}`)
	a, b := dial(t, pc.LocalAddr()), dial(t, pc.LocalAddr())
	for i := 0; i < 20; i++ {
		if got, want := a.exchange(fmt.Sprint("a", i)), fmt.Sprint("a", i); got != want {
			t.Fatalf("client a got %q, want %q", got, want)
		}
		if got, want := b.exchange(fmt.Sprint("b", i)), fmt.Sprint("b", i); got != want {
			t.Fatalf("client b got %q, want %q", got, want)
		}
	}
}

func TestEchoAnswersAnEmptyDatagram(t *testing.T) {
	_, pc, _ := serve(t, `{"module": "udp", "handle": {"module": "echo"}}`)
	c := dial(t, pc.LocalAddr())
	c.send("")
	c.send("after")
	if got, ok := c.recvOK(waitLimit); !ok || got != "" {
		t.Fatalf("first answer %q (received: %t), want the empty datagram back", got, ok)
	}
	if got := c.recv(waitLimit); got != "after" {
		t.Fatalf("second answer %q, want %q", got, "after")
	}
}
