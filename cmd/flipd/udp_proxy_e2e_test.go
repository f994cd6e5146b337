//go:build linux

package main

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// udpUpstream answers "up:" + each datagram, from the address it read
// it on; a datagram that starts with "slow" is answered after delay.
func udpUpstream(t *testing.T, delay time.Duration) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			reply := append([]byte("up:"), buf[:n]...)
			if strings.HasPrefix(string(buf[:n]), "slow") {
				time.AfterFunc(delay, func() { pc.WriteTo(reply, from) })
				continue
			}
			pc.WriteTo(reply, from)
		}
	}()
	return pc.LocalAddr().String()
}

func udpProxyConfig(admin, addr, upstream string) string {
	return fmt.Sprintf(`{"admin": {"listen": %q}, "upgrade": {"drain_timeout": "10s"}, "listeners": {
		"dns": {"address": "udp/%s", "module": "udp", "handle": {"module": "proxy", "upstream": %q, "idle_timeout": "1s"}}}}`,
		admin, addr, upstream)
}

// udpClient is one client socket of the proxy.
type udpClient struct {
	t    *testing.T
	conn *net.UDPConn
}

func dialUDP(t *testing.T, addr string) *udpClient {
	t.Helper()
	raddr, _ := net.ResolveUDPAddr("udp", addr)
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{t: t, conn: c}
}

func (c *udpClient) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// recv is the next datagram, or an error after wait.
func (c *udpClient) recv(wait time.Duration) (string, error) {
	buf := make([]byte, 1500)
	c.conn.SetReadDeadline(time.Now().Add(wait))
	n, err := c.conn.Read(buf)
	return string(buf[:n]), err
}

// openSessions is what GET /status says of the answering generation.
func openSessions(t *testing.T, admin string) int {
	t.Helper()
	a := api(t, "GET", "http://"+admin+"/status", "")
	gens, _ := a.body["generations"].([]any)
	if len(gens) == 0 {
		t.Fatalf("GET /status: %s", a.raw)
	}
	n, ok := gens[0].(map[string]any)["open_sessions"].(float64)
	if !ok {
		t.Fatalf("GET /status has no open_sessions: %s", a.raw)
	}
	return int(n)
}

// A proxy session outlives the generation that opened it: the upstream's
// late reply reaches its client through the old generation after the
// handover, while the new generation serves the next datagrams; clients
// that send all along get their own replies, and only theirs.
func TestUDPProxyAcrossUpgradesRoutesRepliesToTheRightClient(t *testing.T) {
	admin, addr := freeAddr(t), freeUDPAddr(t)
	config := udpProxyConfig(admin, addr, udpUpstream(t, 800*time.Millisecond))
	d := startFlipd(t, config)

	slow := dialUDP(t, addr)
	slow.send("slow-1")
	d.waitFor("the session to open", func() bool { return openSessions(t, admin) == 1 })
	old := d.pid()
	d.reload(config)
	if got, err := slow.recv(10 * time.Second); got != "up:slow-1" {
		t.Fatalf("the late reply of the old generation's session: %q, %v", got, err)
	}

	// Three clients exchange all along, through three more upgrades.
	var wg sync.WaitGroup
	quit := make(chan struct{})
	errs := make(chan error, 3)
	counts := make([]int, 3)
	for i := 0; i < 3; i++ {
		c := dialUDP(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-quit:
					return
				default:
				}
				want := fmt.Sprintf("c%d-%d", i, n)
				if _, err := c.conn.Write([]byte(want)); err != nil {
					errs <- err
					return
				}
				got, err := c.recv(10 * time.Second)
				if got != "up:"+want {
					errs <- fmt.Errorf("client %d sent %q and got %q (%v)", i, want, got, err)
					return
				}
				counts[i]++
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	pids := []int{old, d.pid()}
	for i := 0; i < 3; i++ {
		d.waitExit(pids[len(pids)-2]) // within max_draining: old sessions idle out after 1s
		pids = append(pids, d.reload(config))
		time.Sleep(100 * time.Millisecond)
	}
	close(quit)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("exchanges per client across 3 upgrades: %v", counts)
	if n := openSessions(t, admin); n < 3 {
		t.Errorf("GET /status shows %d open sessions in the serving generation, want the 3 clients'", n)
	}
	for _, pid := range pids[:len(pids)-1] {
		d.waitExit(pid)
	}
}
