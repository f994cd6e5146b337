//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// webConfig serves body on addr, with opts (JSON members, each preceded
// by a comma) on the listener.
func webConfig(addr, body, opts string) string {
	return fmt.Sprintf(`{"admin": {"disabled": true}, "upgrade": {"drain_timeout": "10s"}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http"%s, "routes": [{"handle": {"module": "static_response", "body": %q}}]}}}`, addr, opts, body)
}

// listenBacklog reads the backlog of the socket listening on addr, as
// ss shows it.
func listenBacklog(t *testing.T, addr string) int {
	t.Helper()
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed: cannot read a listening socket's backlog")
	}
	out, err := exec.Command("ss", "-Hltn", "src", addr).Output()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) < 4 {
		t.Fatalf("ss shows no listener on %s: %q, %v", addr, out, err)
	}
	n, _ := strconv.Atoi(fields[2])
	return n
}

// SO_REUSEPORT cannot change on the socket the new generation inherits:
// the reload is refused with a message that says which listener and
// option, and how to apply it; the old generation serves on.
func TestAReloadThatChangesReusePortIsRefusedAndTheOldGenerationServes(t *testing.T) {
	addr := freeAddr(t)
	d := startFlipd(t, webConfig(addr, "one", ""))
	logged := d.reloadFails(webConfig(addr, "two", `, "reuse_port": true`))
	for _, want := range []string{"listeners.web: reuse_port changes from false to true", "SO_REUSEPORT cannot change on a bound socket", "stop and start flipd"} {
		if !strings.Contains(logged, want) {
			t.Fatalf("the refusal does not say %q:\n%s", want, logged)
		}
	}
	if got := get(t, "http://"+addr+"/"); got != "one" {
		t.Fatalf("after the refused reload the answer is %q", got)
	}
}

// A new backlog and buffer sizes reach the very socket the new generation
// inherits (the same inode), and no connection is refused meanwhile.
func TestAReloadThatChangesBacklogAndBuffersAppliesThemInPlaceUnderLoad(t *testing.T) {
	addr := freeAddr(t)
	d := startFlipd(t, webConfig(addr, "one", `, "backlog": 16, "recv_buffer": 65536`))
	if got := listenBacklog(t, addr); got != 16 {
		t.Fatalf("backlog %d at the start, want 16", got)
	}
	inode := listenInode(t, addr)
	load := startLoadWith("http://"+addr+"/", loadOptions{fresh: 4, timeout: 10 * time.Second, requests: 100000})
	old := d.pid()
	d.reload(webConfig(addr, "two", `, "backlog": 64, "recv_buffer": 131072, "send_buffer": 131072`))
	waitAnswer(t, "http://"+addr+"/", "two")
	d.waitFor("the new options to be logged", func() bool { return strings.Contains(d.log(), "inherited=true backlog=64 recv_buffer=131072") })
	time.Sleep(100 * time.Millisecond)
	ok, failed := load.end()
	if got := listenInode(t, addr); got != inode {
		t.Fatalf("the reload replaced the socket (inode %s, was %s)", got, inode)
	}
	if got := listenBacklog(t, addr); got != 64 {
		t.Fatalf("backlog %d after the reload, want 64", got)
	}
	t.Logf("%d requests across the reload, %d failed", ok, failed)
	if failed > 0 || ok == 0 {
		t.Fatalf("%d of %d requests failed:\n%s", failed, ok+int64(failed), load.errors())
	}
	d.waitExit(old)
}

// Malformed udp configs are refused before anything starts, naming the
// listener and what is wrong; the serving generation goes on echoing.
func TestUDPConfigErrorsAreRefusedAndTheOldGenerationServes(t *testing.T) {
	addr, web := freeUDPAddr(t), freeAddr(t)
	d := startFlipd(t, udpEchoConfig(addr, "5s"))
	c := dialUDP(t, addr)
	echo := func() {
		t.Helper()
		c.send("still")
		if got, err := c.recv(10 * time.Second); got != "still" {
			t.Fatalf("echo after a refused config: %q, %v", got, err)
		}
	}
	listener := func(l string) string {
		return `{"admin": {"disabled": true}, "listeners": {"echo": ` + l + `}}`
	}
	for _, tc := range []struct{ name, config, want string }{
		{"http on a udp address", listener(`{"address": "udp/` + addr + `", "module": "http", "routes": []}`),
			`listeners.echo: module \"http\" serves streams (tcp or unix sockets) and cannot serve udp/` + addr},
		{"udp on a tcp address", listener(`{"address": "tcp/` + web + `", "module": "udp", "handle": {"module": "echo"}}`),
			`module \"udp\" serves datagrams and needs a udp address`},
		{"a backlog for udp", listener(`{"address": "udp/` + addr + `", "module": "udp", "backlog": 5, "handle": {"module": "echo"}}`),
			`is a datagram socket, which has no accept queue`},
		{"a proxy without upstream", listener(`{"address": "udp/` + addr + `", "module": "udp", "handle": {"module": "proxy"}}`),
			`upstream\" is missing`},
		{"an unknown handler", listener(`{"address": "udp/` + addr + `", "module": "udp", "handle": {"module": "ecko"}}`),
			`unknown module \"ecko\" in udp.handlers`},
		{"a bad idle_timeout", listener(`{"address": "udp/` + addr + `", "module": "udp", "handle": {"module": "proxy", "upstream": "127.0.0.1:53", "idle_timeout": 5}}`),
			`idle_timeout`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.t = t
			logged := d.reloadFails(tc.config)
			if !strings.Contains(logged, tc.want) {
				t.Fatalf("the failed reload's log does not say %q:\n%s", tc.want, logged)
			}
			echo()
		})
	}
	d.t = t
	// flipd validate says the same, without a running flipd.
	file := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(file, []byte(listener(`{"address": "udp/127.0.0.1:53", "module": "http", "routes": []}`)), 0o644)
	out, err := exec.Command(flipdBin, "validate", "--config", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `module "http" serves streams (tcp or unix sockets) and cannot serve udp/127.0.0.1:53: use a datagram module, such as "udp"`) {
		t.Fatalf("flipd validate: %v\n%s", err, out)
	}
}

// reusePortBind binds a UDP socket with SO_REUSEPORT to addr, as another
// program sharing the port would.
func reusePortBind(addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return err
	}}
	return lc.ListenPacket(context.Background(), "udp", addr)
}

// With reuse_port, another socket may bind flipd's address, before and
// after a reload that keeps reuse_port and changes the buffers in place;
// without it, the address is flipd's alone.
func TestReusePortLetsAnotherSocketShareTheAddressAcrossReloads(t *testing.T) {
	addr := freeUDPAddr(t)
	config := func(opts string) string {
		return fmt.Sprintf(`{"admin": {"disabled": true}, "upgrade": {"drain_timeout": "5s"}, "listeners": {
			"echo": {"address": "udp/%s", "module": "udp"%s, "handle": {"module": "echo"}}}}`, addr, opts)
	}
	d := startFlipd(t, config(`, "reuse_port": true`))
	c := dialUDP(t, addr)
	check := func(when string) {
		t.Helper()
		other, err := reusePortBind(addr)
		if err != nil {
			t.Fatalf("%s: another socket with SO_REUSEPORT cannot bind %s: %v", when, addr, err)
		}
		other.Close()
		c.send(when)
		if got, err := c.recv(10 * time.Second); got != when {
			t.Fatalf("%s: echo %q, %v", when, got, err)
		}
	}
	check("before")
	old := d.pid()
	d.reload(config(`, "reuse_port": true, "recv_buffer": 1048576`))
	check("after")
	d.waitExit(old)

	plain := freeUDPAddr(t)
	startFlipd(t, fmt.Sprintf(`{"admin": {"disabled": true}, "listeners": {
		"echo": {"address": "udp/%s", "module": "udp", "handle": {"module": "echo"}}}}`, plain))
	if other, err := reusePortBind(plain); err == nil {
		other.Close()
		t.Fatalf("a socket bound %s, which flipd holds without reuse_port", plain)
	}
}
