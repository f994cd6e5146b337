package tcp_test

import (
	"fmt"
	"io"
	"sync"
	"testing"
)

func TestEchoConcurrentClients(t *testing.T) {
	s := start(t, `{"module": "tcp", "handle": {"module": "echo"}}`)
	const clients, messages = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := dial(t, s.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range messages {
				msg := fmt.Sprintf("client %d message %d\n", i, j)
				got, err := roundTrip(c, msg)
				if err != nil || got != msg {
					errs <- fmt.Errorf("client %d: got %q, %v; want %q", i, got, err, msg)
					return
				}
			}
			// A half-close ends the exchange: the echo closes in turn.
			c.CloseWrite()
			if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
				errs <- fmt.Errorf("client %d: after half-close read %q, %v; want EOF", i, rest, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	eventually(t, "every connection to be closed", func() bool { return s.OpenConns() == 0 })
}
