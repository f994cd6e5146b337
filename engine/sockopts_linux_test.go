package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/flipdtest"
)

// inheritingSockets hands out the sockets in ln and pc as a parent
// generation would (the callback is not called), and opens the others.
type inheritingSockets struct {
	ln map[string]net.Listener
	pc map[string]net.PacketConn
}

func (s inheritingSockets) ListenWithCallback(network, addr string, open func(string, string) (net.Listener, error)) (net.Listener, error) {
	if ln, ok := s.ln[network+"/"+addr]; ok {
		return ln, nil
	}
	return open(network, addr)
}

func (s inheritingSockets) ListenPacketWithCallback(network, addr string, open func(string, string) (net.PacketConn, error)) (net.PacketConn, error) {
	if pc, ok := s.pc[network+"/"+addr]; ok {
		return pc, nil
	}
	return open(network, addr)
}

// serveConfig loads raw and serves it on reg, with its logs in the
// returned buffer.
func serveConfig(t *testing.T, raw string, reg sockets) (*loaded, *flipdtest.Buffer) {
	t.Helper()
	logs := new(flipdtest.Buffer)
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})
	l, err := loadConfig(context.Background(), []byte(raw), logger, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.serve(reg); err != nil {
		l.cleanup()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, li := range l.listeners {
			li.drain(ctx)
		}
		l.cleanup()
	})
	return l, logs
}

func sockopt(t *testing.T, sock any, opt int) int {
	t.Helper()
	var v int
	err := withRawConn(sock.(syscall.Conn), func(c syscall.RawConn) error {
		var gerr error
		if err := c.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt) }); err != nil {
			return err
		}
		return gerr
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// backlog reads a listening socket's backlog as ss shows it (Send-Q).
func backlog(t *testing.T, addr string) int {
	t.Helper()
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed: cannot read a listening socket's backlog")
	}
	out, err := exec.Command("ss", "-Hltn", "src", addr).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 4 {
		t.Fatalf("ss shows no listener on %s: %q", addr, out)
	}
	n, err := strconv.Atoi(fields[2])
	if err != nil {
		t.Fatalf("ss: %q: %v", out, err)
	}
	return n
}

func TestSocketOptionsAreSetOnNewSockets(t *testing.T) {
	raw := `{"admin": {"disabled": true}, "listeners": {
		"t": {"address": "tcp/127.0.0.1:0", "module": "test", "backlog": 7, "reuse_port": true, "recv_buffer": 65536, "send_buffer": 32768},
		"u": {"address": "udp/127.0.0.1:0", "module": "testpacket", "reuse_port": true, "recv_buffer": 262144}}}`
	l, logs := serveConfig(t, raw, loopbackSockets{})
	l.applySocketOptions()
	tcp, udp := l.listeners[0], l.listeners[1]
	if got := sockopt(t, tcp.sock, unix.SO_REUSEPORT); got != 1 {
		t.Errorf("tcp SO_REUSEPORT = %d, want 1", got)
	}
	if got := sockopt(t, tcp.sock, unix.SO_RCVBUF); got != 2*65536 {
		t.Errorf("tcp SO_RCVBUF = %d, want %d (Linux doubles what it is given)", got, 2*65536)
	}
	if got := sockopt(t, tcp.sock, unix.SO_SNDBUF); got != 2*32768 {
		t.Errorf("tcp SO_SNDBUF = %d, want %d", got, 2*32768)
	}
	if got := sockopt(t, udp.sock, unix.SO_REUSEPORT); got != 1 {
		t.Errorf("udp SO_REUSEPORT = %d, want 1", got)
	}
	if got := sockopt(t, udp.sock, unix.SO_RCVBUF); got != 2*262144 {
		t.Errorf("udp SO_RCVBUF = %d, want %d", got, 2*262144)
	}
	if !strings.Contains(logs.String(), "socket options: address=tcp/127.0.0.1:0 listener=t") || !strings.Contains(logs.String(), "recv_buffer=65536") {
		t.Errorf("the options set were not logged:\n%s", logs)
	}
	if got := backlog(t, tcp.sock.(net.Listener).Addr().String()); got != 7 {
		t.Errorf("backlog = %d, want 7", got)
	}
}

// The kernel caps SO_RCVBUF at net.core.rmem_max without CAP_NET_ADMIN:
// flipd says so instead of letting the operator believe the buffer is
// as large as asked.
func TestABufferTheKernelCapsIsReportedWithAWarning(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no /proc/sys/net/core/rmem_max:", err)
	}
	max, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	ask := 2 * max
	if ask > maxBuffer || ask <= 0 {
		t.Skipf("rmem_max %d is too large to ask beyond", max)
	}
	dropNetAdmin(t)
	raw := fmt.Sprintf(`{"admin": {"disabled": true}, "listeners": {
		"u": {"address": "udp/127.0.0.1:0", "module": "testpacket", "recv_buffer": %d}}}`, ask)
	l, logs := serveConfig(t, raw, loopbackSockets{})
	l.applySocketOptions()
	if got := sockopt(t, l.listeners[0].sock, unix.SO_RCVBUF) / 2; got >= ask {
		t.Skipf("the kernel gave %d bytes (flipd has CAP_NET_ADMIN here, so SO_RCVBUFFORCE passed the limit)", got)
	}
	want := fmt.Sprintf("the kernel set recv_buffer to %d bytes, less than the %d asked: raise net.core.rmem_max", max, ask)
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("no warning %q in:\n%s", want, logs)
	}
}

// dropNetAdmin takes CAP_NET_ADMIN out of the effective set of the
// test's thread (capabilities are per thread on Linux), and keeps the
// test on that thread; the thread ends with the test.
func dropNetAdmin(t *testing.T) {
	runtime.LockOSThread() // never unlocked: Go ends the thread with its goroutine
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Logf("capget: %v", err)
		return
	}
	data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		t.Logf("capset: %v", err)
	}
}

// The warning itself, for machines where the test above cannot make the
// kernel refuse (flipd runs with CAP_NET_ADMIN).
func TestLessBufferThanAskedIsWarnedAbout(t *testing.T) {
	logs := new(flipdtest.Buffer)
	log := hclog.New(&hclog.LoggerOptions{Output: logs})
	li := &listener{name: "u", opts: SocketOptions{RecvBuffer: 8 << 20, SendBuffer: 1 << 20}}
	li.reportOptions(log, socketState{RecvBuffer: 2 * (4 << 20), SendBuffer: 2 * (1 << 20)})
	want := "the kernel set recv_buffer to 4194304 bytes, less than the 8388608 asked: raise net.core.rmem_max, or give flipd CAP_NET_ADMIN"
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("no warning %q in:\n%s", want, logs)
	}
	if strings.Contains(logs.String(), "send_buffer to") {
		t.Fatalf("a warning for send_buffer, which got what it asked:\n%s", logs)
	}
}

// A socket inherited from the previous generation gets the backlog and
// buffer sizes of the new config, in place: the same socket, so nothing
// in its queue is lost.
func TestAnInheritedSocketGetsTheNewBacklogAndBuffersInPlace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	reg := inheritingSockets{ln: map[string]net.Listener{"tcp/127.0.0.1:1": ln}, pc: map[string]net.PacketConn{"udp/127.0.0.1:1": pc}}
	raw := `{"admin": {"disabled": true}, "listeners": {
		"t": {"address": "tcp/127.0.0.1:1", "module": "test", "backlog": 5, "recv_buffer": 65536},
		"u": {"address": "udp/127.0.0.1:1", "module": "testpacket", "send_buffer": 65536}}}`
	l, logs := serveConfig(t, raw, reg)
	if !l.listeners[0].inherited || !l.listeners[1].inherited {
		t.Fatal("the sockets were not taken as inherited")
	}
	l.applySocketOptions()
	if got := backlog(t, ln.Addr().String()); got != 5 {
		t.Errorf("backlog of the inherited socket = %d, want 5", got)
	}
	if got := sockopt(t, ln, unix.SO_RCVBUF); got != 2*65536 {
		t.Errorf("SO_RCVBUF of the inherited socket = %d, want %d", got, 2*65536)
	}
	if got := sockopt(t, pc, unix.SO_SNDBUF); got != 2*65536 {
		t.Errorf("SO_SNDBUF of the inherited udp socket = %d, want %d", got, 2*65536)
	}
	if !strings.Contains(logs.String(), "inherited=true") {
		t.Errorf("the log does not say the options went to an inherited socket:\n%s", logs)
	}
}

// SO_REUSEPORT cannot change on a bound socket: a generation that
// inherits one with the other setting (from systemd, say) refuses to
// start, naming the option, rather than serving with a setting it
// does not have.
func TestAnInheritedSocketWithAnotherReusePortFailsTheStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reg := inheritingSockets{ln: map[string]net.Listener{"tcp/127.0.0.1:1": ln}}
	raw := `{"admin": {"disabled": true}, "listeners": {
		"t": {"address": "tcp/127.0.0.1:1", "module": "test", "reuse_port": true}}}`
	l, err := loadConfig(context.Background(), []byte(raw), nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.cleanup()
	err = l.serve(reg)
	want := `listener "t": tcp/127.0.0.1:1: reuse_port is true, but the socket inherited for tcp/127.0.0.1:1 was created with SO_REUSEPORT off`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "stop and start flipd") {
		t.Fatalf("serve: %v\nwant %q...", err, want)
	}
}

// testOpener is a listener module that opens its own socket.
type testOpener struct{ testListener }

func (*testOpener) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.testopener", New: func() flipd.Module { return new(testOpener) }}
}

func (*testOpener) OpenListener(network, addr string) (net.Listener, error) {
	return net.Listen(network, addr)
}

func init() { flipd.RegisterModule(new(testOpener)) }

// A module that opens its own socket gets the options too, but for
// reuse_port, which must come before bind: that one is refused.
func TestSocketOptionsReachASocketAModuleOpens(t *testing.T) {
	l, _ := serveConfig(t, `{"admin": {"disabled": true}, "listeners": {
		"t": {"address": "tcp/127.0.0.1:0", "module": "testopener", "backlog": 3, "recv_buffer": 65536}}}`, loopbackSockets{})
	if got := sockopt(t, l.listeners[0].sock, unix.SO_RCVBUF); got != 2*65536 {
		t.Errorf("SO_RCVBUF = %d, want %d", got, 2*65536)
	}
	if got := backlog(t, l.listeners[0].sock.(net.Listener).Addr().String()); got != 3 {
		t.Errorf("backlog = %d, want 3", got)
	}
	bad, err := loadConfig(context.Background(), []byte(`{"admin": {"disabled": true}, "listeners": {
		"t": {"address": "tcp/127.0.0.1:0", "module": "testopener", "reuse_port": true}}}`), nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.cleanup()
	if err := bad.serve(loopbackSockets{}); err == nil || !strings.Contains(err.Error(), `listener "t": tcp/127.0.0.1:0: reuse_port cannot be set: the module opens its own socket`) {
		t.Fatalf("serve: %v", err)
	}
}
