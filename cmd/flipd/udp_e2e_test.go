//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// freeUDPAddr is a loopback UDP address free at the time of the call.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

func udpEchoConfig(addr, drain string) string {
	return fmt.Sprintf(`{"admin": {"disabled": true}, "upgrade": {"drain_timeout": %q}, "listeners": {
		"echo": {"address": "udp/%s", "module": "udp", "recv_buffer": 1048576, "handle": {"module": "echo"}}}}`, drain, addr)
}

// datagramLoad sends numbered datagrams on one socket, a burst of
// datagramBurst every interval, and counts the answers.
type datagramLoad struct {
	conn     *net.UDPConn
	quit     chan struct{}
	sending  chan struct{} // closed when the sender has stopped
	wg       sync.WaitGroup
	mu       sync.Mutex
	sent     int
	got      map[int]int // answers per number
	stranger []string    // answers that are not ours
}

const datagramBurst = 5

func startDatagramLoad(t *testing.T, addr string, interval time.Duration) *datagramLoad {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadBuffer(4 << 20) // answers wait here while the test is starved of CPU
	l := &datagramLoad{conn: conn, quit: make(chan struct{}), sending: make(chan struct{}), got: map[int]int{}}
	l.wg.Add(1)
	go func() { // sender
		defer close(l.sending)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-l.quit:
				return
			case <-tick.C:
			}
			for b := 0; b < datagramBurst; b++ {
				if _, err := conn.Write([]byte("n" + strconv.Itoa(i))); err != nil {
					continue // ECONNREFUSED from ICMP: not sent, sent again
				}
				i++
				l.mu.Lock()
				l.sent = i
				l.mu.Unlock()
			}
		}
	}()
	go func() { // receiver, until the socket is closed
		defer l.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if strings.Contains(err.Error(), "closed") {
					return
				}
				continue
			}
			l.mu.Lock()
			if i, err := strconv.Atoi(strings.TrimPrefix(string(buf[:n]), "n")); err == nil && strings.HasPrefix(string(buf[:n]), "n") {
				l.got[i]++
			} else {
				l.stranger = append(l.stranger, string(buf[:n]))
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// end stops sending, waits up to wait for the last answers, and returns
// how many were sent, answered, lost and answered twice.
func (l *datagramLoad) end(wait time.Duration) (sent, answered, lost, twice int) {
	close(l.quit)
	<-l.sending
	deadline := time.Now().Add(wait)
	for {
		l.mu.Lock()
		sent, answered = l.sent, len(l.got)
		l.mu.Unlock()
		if answered >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.conn.Close()
	l.wg.Wait()
	for i := 0; i < sent; i++ {
		switch l.got[i] {
		case 0:
			lost++
		case 1:
		default:
			twice++
		}
	}
	return sent, answered, lost, twice
}

// udpReceiveDrops is the kernel's count of UDP datagrams dropped because
// a receive buffer was full (RcvbufErrors in /proc/net/snmp), or -1.
func udpReceiveDrops(t *testing.T) int {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return -1
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, name := range names {
			if name == "RcvbufErrors" && i < len(fields) {
				n, _ := strconv.Atoi(fields[i])
				return n
			}
		}
	}
	return -1
}

// The UDP socket passes from generation to generation: datagrams sent
// while each handover happens wait in its receive buffer and are echoed
// by one generation or the other, never lost (on loopback, with a buffer
// large enough for the gap, UDP drops nothing) and never answered twice.
func TestUDPEchoAcrossTenUpgradesLosesNoDatagram(t *testing.T) {
	addr := freeUDPAddr(t)
	d := startFlipd(t, udpEchoConfig(addr, "5s"))
	drops := udpReceiveDrops(t)
	load := startDatagramLoad(t, addr, time.Millisecond)
	pids := []int{d.pid()}
	for i := 0; i < 10; i++ {
		if len(pids) >= 2 { // stay within max_draining
			d.waitExit(pids[len(pids)-2])
		}
		pids = append(pids, d.reload(udpEchoConfig(addr, "5s")))
	}
	time.Sleep(100 * time.Millisecond)
	sent, answered, lost, twice := load.end(5 * time.Second)
	t.Logf("%d datagrams sent over 10 upgrades, %d answered, %d lost, %d answered twice", sent, answered, lost, twice)
	if sent < 100 || lost > 0 || twice > 0 || len(load.stranger) > 0 {
		t.Fatalf("%d sent, %d lost, %d answered twice, strangers %q; the kernel counted %d datagrams dropped for full receive buffers meanwhile (on this whole network namespace)\n%s",
			sent, lost, twice, load.stranger, udpReceiveDrops(t)-drops, d.log())
	}
	for _, pid := range pids[:len(pids)-1] {
		d.waitExit(pid)
	}
}
