package drain

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
)

// TestDrainAddsNoAllocationToAKeepAliveRequest counts the allocations of
// the whole process while a raw client, which allocates nothing, sends
// keep-alive requests to a bare server and to one wrapped by the drain:
// while not draining, the drain must not add one. It counts, it does not
// time.
func TestDrainAddsNoAllocationToAKeepAliveRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("counts allocations over many requests")
	}
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items at random, so net/http's allocations vary")
	}
	per := map[bool]float64{}
	for _, withDrain := range []bool{false, true} {
		c, err := net.Dial("tcp", serveBench(t, withDrain))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		req := []byte("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
		send := func() {
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
		}
		send()
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		buf := make([]byte, answerSize(resp))
		// The fewest over several runs: another goroutine's allocation
		// (the runtime's, the test framework's) only ever adds.
		best := -1.0
		for range 5 {
			n := testing.AllocsPerRun(200, func() {
				send()
				if _, err := io.ReadFull(r, buf); err != nil {
					t.Fatal(err)
				}
			})
			if best < 0 || n < best {
				best = n
			}
		}
		per[withDrain] = best
	}
	t.Logf("allocations per request: bare net/http %.2f, with the drain %.2f", per[false], per[true])
	if per[true] > per[false]+0.5 {
		t.Errorf("the drain adds %.2f allocations to each keep-alive request (bare %.2f, drain %.2f), want none",
			per[true]-per[false], per[false], per[true])
	}
}
