package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/flipd/flipd"
)

// events records what the hooked test modules went through, by tag.
var events = struct {
	sync.Mutex
	byTag map[string][]string
}{byTag: map[string][]string{}}

func record(tag, event string) {
	events.Lock()
	defer events.Unlock()
	events.byTag[tag] = append(events.byTag[tag], event)
}

// freshTag is the test's name, with no events recorded under it yet
// (-count runs a test again in the same process).
func freshTag(t *testing.T) string {
	events.Lock()
	defer events.Unlock()
	delete(events.byTag, t.Name())
	return t.Name()
}

func recorded(tag string) string {
	events.Lock()
	defer events.Unlock()
	return strings.Join(events.byTag[tag], " ")
}

// hookedConns is a ConnHandler listener module with Start and Stop; it
// writes its name to each client.
type hookedConns struct {
	Tag       string `json:"tag"`
	Name      string `json:"name"`
	FailStart string `json:"fail_start,omitempty"`
}

func (*hookedConns) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.hooked", New: func() flipd.Module { return new(hookedConns) }}
}

func (h *hookedConns) Provision(flipd.Context) error { record(h.Tag, "provision:"+h.Name); return nil }

func (h *hookedConns) Start(ctx context.Context) error {
	record(h.Tag, "start:"+h.Name)
	if h.FailStart != "" {
		return errors.New(h.FailStart)
	}
	return nil
}

func (h *hookedConns) Stop(ctx context.Context) error { record(h.Tag, "stop:"+h.Name); return nil }

func (h *hookedConns) ServeConn(ctx context.Context, c net.Conn) error {
	_, err := fmt.Fprintf(c, "%s\n", h.Name)
	return err
}

// hookedWrapper is a listener wrapper with Start and Stop.
type hookedWrapper struct {
	Tag  string `json:"tag"`
	Name string `json:"name"`
}

func (*hookedWrapper) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listener_wrappers.hooked", New: func() flipd.Module { return new(hookedWrapper) }}
}

func (w *hookedWrapper) Provision(flipd.Context) error {
	record(w.Tag, "provision:"+w.Name)
	return nil
}

func (w *hookedWrapper) WrapListener(ln net.Listener) (net.Listener, error) {
	record(w.Tag, "wrap:"+w.Name)
	return ln, nil
}

func (w *hookedWrapper) Start(ctx context.Context) error { record(w.Tag, "start:"+w.Name); return nil }
func (w *hookedWrapper) Stop(ctx context.Context) error  { record(w.Tag, "stop:"+w.Name); return nil }

func init() {
	flipd.RegisterModule(new(hookedConns))
	flipd.RegisterModule(new(hookedWrapper))
}

// loopbackSockets opens every socket anew on loopback, as the upgrader
// does in a first generation.
type loopbackSockets struct{}

func (loopbackSockets) Listen(network, addr string) (net.Listener, error) {
	return net.Listen(network, addr)
}

func (loopbackSockets) ListenWithCallback(network, addr string, open func(string, string) (net.Listener, error)) (net.Listener, error) {
	return open(network, addr)
}

func (loopbackSockets) ListenPacketWithCallback(network, addr string, open func(string, string) (net.PacketConn, error)) (net.PacketConn, error) {
	return open(network, addr)
}

// hookedConfig has two listeners, "a" (wrapped) and "b", both hooked.
func hookedConfig(tag, failStart string) string {
	return fmt.Sprintf(`{"admin": {"disabled": true}, "listeners": {
		"a": {"address": "tcp/127.0.0.1:0", "module": "hooked", "tag": %[1]q, "name": "a",
			"wrappers": [{"module": "hooked", "tag": %[1]q, "name": "a-wrapper"}]},
		"b": {"address": "tcp/localhost:0", "module": "hooked", "tag": %[1]q, "name": "b", "fail_start": %[2]q}}}`, tag, failStart)
}

// A config that is only validated (flipd validate, or the check before a
// reload starts a process) provisions its modules but starts none.
func TestValidatingAConfigStartsNoModule(t *testing.T) {
	tag := freshTag(t)
	if err := Validate([]byte(hookedConfig(tag, ""))); err != nil {
		t.Fatal(err)
	}
	l, err := loadConfig(context.Background(), []byte(hookedConfig(tag, "")), nil, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := recorded(tag); strings.Contains(got, "start") || strings.Contains(got, "stop") {
		t.Fatalf("validating called hooks: %s", got)
	}
}

// In the generation that serves, Start runs after every socket is
// wrapped and before any listener serves, wrappers before their listener
// module; Stop runs newest first, when the generation starts to drain.
func TestHooksRunInOrderAroundServing(t *testing.T) {
	tag := freshTag(t)
	l, err := loadConfig(context.Background(), []byte(hookedConfig(tag, "")), nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.cleanup()
	if err := l.serve(loopbackSockets{}); err != nil {
		t.Fatal(err)
	}
	want := "provision:a-wrapper provision:a provision:b wrap:a-wrapper start:a-wrapper start:a start:b"
	if got := recorded(tag); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	for _, li := range l.listeners {
		if _, ok := li.module.(*flipd.ConnServer); !ok {
			t.Fatalf("listener %q is served by a %T, want the runtime's *ConnServer", li.name, li.module)
		}
	}
	l.stopModules(context.Background())
	l.stopModules(context.Background()) // once only
	want += " stop:b stop:a stop:a-wrapper"
	if got := recorded(tag); got != want {
		t.Fatalf("events after the stop:\n got %s\nwant %s", got, want)
	}
	l.stopServing()
}

// A Start that fails fails the start-up with the module's message, naming
// the listener and module: no listener serves, the sockets are closed,
// and the modules started before it are stopped.
func TestStartErrorFailsTheStartUpWithItsMessage(t *testing.T) {
	tag := freshTag(t)
	l, err := loadConfig(context.Background(), []byte(hookedConfig(tag, "b cannot reach its database")), nil, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.cleanup()
	err = l.serve(loopbackSockets{})
	if err == nil || err.Error() != `listener "b": starting module "hooked": b cannot reach its database` {
		t.Fatalf("serve: %v; want the module's message, naming listener and module", err)
	}
	want := "provision:a-wrapper provision:a provision:b wrap:a-wrapper start:a-wrapper start:a start:b stop:a stop:a-wrapper"
	if got := recorded(tag); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	for _, li := range l.listeners {
		if li.served != nil {
			t.Fatalf("listener %q was served after a Start failed", li.name)
		}
	}
	l.stopModules(context.Background())
	if got := recorded(tag); got != want {
		t.Fatalf("a stop after the failed start called hooks again: %s", got)
	}
}

// A listener whose Serve fails after the modules started stops them.
func TestServeErrorStopsTheStartedModules(t *testing.T) {
	tag := freshTag(t)
	config := fmt.Sprintf(`{"admin": {"disabled": true}, "listeners": {
		"a": {"address": "tcp/127.0.0.1:0", "module": "hooked", "tag": %q, "name": "a"},
		"z": {"address": "tcp/localhost:0", "module": "test", "fail": "serve"}}}`, tag)
	l, err := loadConfig(context.Background(), []byte(config), nil, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.cleanup()
	if err := l.serve(loopbackSockets{}); err == nil || !strings.Contains(err.Error(), "serve refused") {
		t.Fatalf("serve: %v", err)
	}
	if got, want := recorded(tag), "provision:a start:a stop:a"; got != want {
		t.Fatalf("events: got %s, want %s", got, want)
	}
}

// A module that is neither a ConnHandler nor a ListenerModule is refused
// with a sentence that says what it lacks.
func TestListenerModuleWithoutAContractIsRefused(t *testing.T) {
	err := Validate([]byte(`{"listeners": {"w": {"address": "tcp/127.0.0.1:1", "module": "testwrapasmodule"}}}`))
	if err == nil || !strings.Contains(err.Error(), "needs a ServeConn method") {
		t.Fatalf("Validate: %v", err)
	}
}

// notAListener is registered as a listener module but serves nothing.
type notAListener struct{}

func (*notAListener) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.testwrapasmodule", New: func() flipd.Module { return new(notAListener) }}
}

func init() { flipd.RegisterModule(new(notAListener)) }

// In a generation's life, the modules start before it reports ready, and
// stop once it is told to stop, as its drain begins; a reload's
// validation of the next config starts nothing.
func TestAGenerationStartsItsModulesBeforeReadyAndStopsThemAsItDrains(t *testing.T) {
	tag := freshTag(t)
	config := fmt.Sprintf(`{"admin": {"disabled": true}, "storage": {"dir": %q}, "listeners": {
		"a": {"address": "tcp/127.0.0.1:0", "module": "hooked", "tag": %q, "name": "a"}}}`, t.TempDir(), tag)
	f := newFakeUpgrader(1)
	var atReady string
	f.onReady = func(*Instance) { atReady = recorded(tag) }
	in := startOn(t, f, config, Options{})
	if atReady != "provision:a start:a" {
		t.Fatalf("at Ready the hooks recorded %q; want the provision, then the start", atReady)
	}
	if err := Validate([]byte(config)); err != nil {
		t.Fatal(err)
	}
	in.Stop()
	waitDone(t, in)
	if got, want := recorded(tag), "provision:a start:a provision:a stop:a"; got != want {
		t.Fatalf("after the stop the hooks recorded %q; want %q", got, want)
	}
}

// A Start that fails fails the generation's start-up with the module's
// message, and tells the upgrader, so that the parent hears it.
func TestAStartThatFailsFailsTheGenerationAndTellsTheParent(t *testing.T) {
	tag := freshTag(t)
	config := fmt.Sprintf(`{"admin": {"disabled": true}, "storage": {"dir": %q}, "listeners": {
		"a": {"address": "tcp/127.0.0.1:0", "module": "hooked", "tag": %q, "name": "a", "fail_start": "a: no database"}}}`, t.TempDir(), tag)
	f := newFakeUpgrader(2)
	f.payload, _ = json.Marshal(payload{Version: payloadVersion, Config: []byte(config), Source: "test"})
	_, err := launchOn(f, config, Options{})
	want := `listener "a": starting module "hooked": a: no database`
	if err == nil || err.Error() != want {
		t.Fatalf("start: %v; want %q", err, want)
	}
	f.mu.Lock()
	failed, ready := f.failed, f.ready
	f.mu.Unlock()
	if ready || failed == nil || failed.Error() != want {
		t.Fatalf("the upgrader heard ready %v, failure %v; want only the failure %q", ready, failed, want)
	}
}
