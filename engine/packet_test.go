package engine

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/flipdtest"
)

// testPacket is a packet listener module for these tests: it echoes
// datagrams and records its lifecycle.
type testPacket struct {
	mu               sync.Mutex
	served, drained  bool
	pc               net.PacketConn
	servedBeforeDone chan struct{}
}

func (*testPacket) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.testpacket", New: func() flipd.Module { return new(testPacket) }}
}

func (p *testPacket) ServePacket(pc net.PacketConn) error {
	p.mu.Lock()
	p.served, p.pc = true, pc
	p.mu.Unlock()
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return nil
		}
		pc.WriteTo(buf[:n], from)
	}
}

func (p *testPacket) Drain(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drained = true
	if p.pc != nil {
		p.pc.Close()
	}
	return nil
}

func (p *testPacket) state() (served, drained bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served, p.drained
}

func init() { flipd.RegisterModule(new(testPacket)) }

func packetConfig(t *testing.T, listener string) string {
	return `{"admin": {"disabled": true}, "storage": {"dir": "` + t.TempDir() + `"},
		"listeners": {"u": ` + listener + `}}`
}

// A packet listener gets its socket before ready, but is served only
// after: until then the generation it replaces reads the socket.
func TestAPacketListenerIsServedOnlyOnceTheGenerationIsReady(t *testing.T) {
	f := newFakeUpgrader(1)
	var servedAtReady bool
	var mod *testPacket
	f.onReady = func(in *Instance) {
		mod = in.current.listeners[0].packet.(*testPacket)
		servedAtReady, _ = mod.state()
	}
	in := startOn(t, f, packetConfig(t, `{"address": "udp/127.0.0.1:0", "module": "testpacket"}`), Options{})
	if servedAtReady {
		t.Fatal("ServePacket ran before the generation reported ready")
	}
	pc := in.current.listeners[0].pc
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	buf := make([]byte, 16)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("echo: %q, %v", buf[:n], err)
	}
	in.Stop()
	if err := in.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, drained := mod.state(); !drained {
		t.Fatal("the packet listener was not drained at the stop")
	}
}

func TestModulesOfTheWrongKindForTheAddressAreRefusedNamingBoth(t *testing.T) {
	for _, tc := range []struct{ listener, want string }{
		{`{"address": "udp/127.0.0.1:0", "module": "test"}`, `module "test" serves streams (tcp or unix sockets) and cannot serve udp/127.0.0.1:0`},
		{`{"address": "tcp/127.0.0.1:0", "module": "testpacket"}`, `module "testpacket" serves datagrams and needs a udp address ("udp/HOST:PORT"), not tcp/127.0.0.1:0`},
		{`{"address": "unix//tmp/x.sock", "module": "testpacket"}`, `not unix//tmp/x.sock`},
		{`{"address": "udp/127.0.0.1:0", "module": "testpacket", "wrappers": [{"module": "hooked"}]}`, `"wrappers": udp/127.0.0.1:0 is a datagram socket`},
	} {
		err := Validate([]byte(packetConfig(t, tc.listener)))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "listeners.u") {
			t.Errorf("%s: %v\nwant an error naming listeners.u and containing %q", tc.listener, err, tc.want)
		}
	}
}

func TestATCPAndAUDPListenerMayShareAPort(t *testing.T) {
	raw := `{"admin": {"disabled": true}, "listeners": {
		"web": {"address": "tcp/127.0.0.1:8443", "module": "test"},
		"h3": {"address": "udp/127.0.0.1:8443", "module": "testpacket"},
		"any": {"address": "udp/[::]:8444", "module": "testpacket"},
		"other": {"address": "tcp/[::]:8444", "module": "test"}}}`
	if err := Validate([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	two := `{"admin": {"disabled": true}, "listeners": {
		"a": {"address": "udp/127.0.0.1:8443", "module": "testpacket"},
		"b": {"address": "udp4/0.0.0.0:8443", "module": "testpacket"}}}`
	if err := Validate([]byte(two)); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("two udp listeners on one port: %v, want an overlap", err)
	}
}

// A new generation whose ready fails must leave the shared sockets to
// the generation that goes on serving: it neither reads the udp socket
// nor sets options on what it inherited.
func TestANewGenerationWhoseReadyFailsLeavesTheSharedSocketsAlone(t *testing.T) {
	raw := packetConfig(t, `{"address": "udp/127.0.0.1:0", "module": "testpacket", "recv_buffer": 65536}`)
	p, err := json.Marshal(payload{Version: payloadVersion, Config: []byte(raw), Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeUpgrader(2)
	f.payload = p
	f.parentExited = make(chan struct{})
	f.readyErr = errors.New("upgrade: pid file: permission denied")
	logs := new(flipdtest.Buffer)
	in := startOn(t, f, "", Options{LogOutput: logs})
	if in.current.listeners[0].served != nil {
		t.Error("ServePacket was started after a failed ready")
	}
	if strings.Contains(logs.String(), "socket options") {
		t.Errorf("socket options were applied after a failed ready:\n%s", logs)
	}
}
