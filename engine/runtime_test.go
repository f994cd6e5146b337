package engine

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/internal/modstate"
)

// testListener is a listener module for these tests: it accepts and
// closes, and records its lifecycle.
type testListener struct {
	Greeting string `json:"greeting"`
	Fail     string `json:"fail,omitempty"` // "provision", "validate" or "serve"

	provisioned, cleaned bool
	mu                   sync.Mutex
	ln                   net.Listener
}

func (*testListener) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.test", New: func() flipd.Module { return new(testListener) }}
}

func (t *testListener) Provision(ctx flipd.Context) error {
	t.provisioned = true
	if t.Fail == "provision" {
		return errors.New("provision refused")
	}
	return nil
}

func (t *testListener) Validate() error {
	if t.Fail == "validate" {
		return errors.New("greeting must not be empty")
	}
	return nil
}

func (t *testListener) Cleanup() error { t.cleaned = true; return nil }

func (t *testListener) Serve(ln net.Listener) error {
	t.mu.Lock()
	t.ln = ln
	t.mu.Unlock()
	if t.Fail == "serve" {
		return errors.New("serve refused: this socket will not do")
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		c.Write([]byte(t.Greeting))
		c.Close()
	}
}

func (t *testListener) Drain(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln == nil { // Drain before Serve, after a failed start-up
		return nil
	}
	return t.ln.Close()
}

// testWrapper counts the listeners it wraps.
type testWrapper struct {
	Tag string `json:"tag"`
}

func (*testWrapper) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listener_wrappers.testwrap", New: func() flipd.Module { return new(testWrapper) }}
}

func (w *testWrapper) WrapListener(ln net.Listener) (net.Listener, error) { return ln, nil }

func init() {
	flipd.RegisterModule(new(testListener))
	flipd.RegisterModule(new(testWrapper))
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"tcp/127.0.0.1:8080", "tcp/127.0.0.1:8080", ""},
		{"127.0.0.1:8080", "tcp/127.0.0.1:8080", ""},
		{"tcp/[::1]:443", "tcp/[::1]:443", ""},
		{"tcp/[0:0::1]:443", "tcp/[::1]:443", ""},
		{"tcp/LOCALHOST:http", "tcp/localhost:80", ""},
		{"tcp/:8080", "tcp/:8080", ""},
		{"unix//run/app.sock", "unix//run/app.sock", ""},
		{"tcp/127.0.0.1", "", "missing port"},
		{"tcp/127.0.0.1:99999", "", "invalid port"},
		{"udp/127.0.0.1:53", "udp/127.0.0.1:53", ""},
		{"udp6/[0:0::1]:domain", "udp6/[::1]:53", ""},
		{"sctp/127.0.0.1:53", "", `unsupported network "sctp"`},
		{"unix/", "", "needs a path"},
		{"/x", "", "network is missing"},
	} {
		got, err := ParseAddress(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseAddress(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseAddress(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ name, config, want string }{
		{"truncated", `{"listeners": {`, "invalid JSON: it ends before the object is complete"},
		{"malformed", "{\n  \"listeners\": {,}}", "invalid JSON at line 2, column 17"},
		{"empty", ``, "empty config"},
		{"unknown top-level field", `{"listners": {}}`, `unknown field "listners"`},
		{"unknown module", `{"listeners": {"web": {"address": "tcp/127.0.0.1:1", "module": "htp"}}}`,
			`listeners.web: unknown module "htp" in listeners (known: `},
		{"unknown module field", `{"listeners": {"web": {"address": "tcp/127.0.0.1:1", "module": "test", "greting": "x"}}}`,
			`listeners.web: module "test": unknown field "greting"`},
		{"missing address", `{"listeners": {"web": {"module": "test"}}}`, `listeners.web: "address" is missing`},
		{"bad address", `{"listeners": {"web": {"address": "tcp/nowhere", "module": "test"}}}`, `listeners.web: address: "tcp/nowhere"`},
		{"missing module", `{"listeners": {"web": {"address": "tcp/127.0.0.1:1"}}}`, `listeners.web: "module" is missing`},
		{"same address twice", `{"listeners": {"a": {"address": "tcp/127.0.0.1:1", "module": "test"}, "b": {"address": "127.0.0.1:1", "module": "test"}}}`,
			`listeners.b: address tcp/127.0.0.1:1 is already used by listener "a"`},
		{"provision fails", `{"listeners": {"web": {"address": "tcp/127.0.0.1:1", "module": "test", "fail": "provision"}}}`,
			`listeners.web: module "test": provision refused`},
		{"validate fails", `{"listeners": {"web": {"address": "tcp/127.0.0.1:1", "module": "test", "fail": "validate"}}}`,
			`greeting must not be empty`},
		{"unknown wrapper", `{"listeners": {"web": {"address": "tcp/127.0.0.1:1", "module": "test", "wrappers": [{"module": "tsl"}]}}}`,
			`listeners.web: wrappers[0]: unknown module "tsl" in listener_wrappers`},
		{"bad duration", `{"upgrade": {"timeout": "soon"}}`, `upgrade.timeout: want a duration string such as "30s", got "soon" (units: ns, us, ms, s, m, h)`},
		{"bad log format", `{"logging": {"format": "xml"}}`, `logging.format`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v\nwant an error containing %q", err, tc.want)
			}
			var ce *flipd.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%T is not a *ConfigError", err)
			}
		})
	}
}

func TestLoadProvisionsAndCleansUp(t *testing.T) {
	raw := `{"listeners": {
		"b": {"address": "tcp/127.0.0.1:0", "module": "test", "greeting": "hi", "wrappers": [{"module": "testwrap", "tag": "x"}]},
		"a": {"address": "tcp/127.0.0.2:0", "module": "test", "greeting": "ho"}}}`
	l, err := loadConfig(context.Background(), []byte(raw), nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.listeners) != 2 || l.listeners[0].name != "a" || l.listeners[1].name != "b" {
		t.Fatalf("listeners %+v", l.listeners)
	}
	b := l.listeners[1]
	if len(b.wrappers) != 1 || b.wrappers[0].(*testWrapper).Tag != "x" {
		t.Fatalf("wrappers %+v", b.wrappers)
	}
	mod := b.module.(*testListener)
	if !mod.provisioned || mod.Greeting != "hi" {
		t.Fatalf("module %+v", mod)
	}
	if err := l.cleanup(); err != nil || !mod.cleaned {
		t.Fatalf("cleanup: %v, cleaned %v", err, mod.cleaned)
	}
}

// A failure in a later listener cleans up the ones already provisioned.
func TestFailedLoadCleansUpEarlierModules(t *testing.T) {
	var first *testListener
	defer modstate.SwapModule(flipd.ModuleInfo{ID: "listeners.test", New: func() flipd.Module {
		m := new(testListener)
		if first == nil {
			first = m
		}
		return m
	}})()
	raw := `{"listeners": {
		"a": {"address": "tcp/127.0.0.1:0", "module": "test"},
		"b": {"address": "tcp/127.0.0.2:0", "module": "test", "fail": "validate"}}}`
	if _, err := loadConfig(context.Background(), []byte(raw), nil, 1, nil); err == nil {
		t.Fatal("config with a failing module loaded")
	}
	if first == nil || !first.cleaned {
		t.Fatal("the first listener's module was not cleaned up")
	}
}

type fakeSockets struct{ opened []string }

func (f *fakeSockets) ListenWithCallback(network, addr string, open func(network, addr string) (net.Listener, error)) (net.Listener, error) {
	if addr == "127.0.0.9:1" {
		_, err := net.Listen("tcp", "256.0.0.1:1")
		return nil, err
	}
	f.opened = append(f.opened, network+"/"+addr)
	return open(network, addr)
}

func (f *fakeSockets) ListenPacketWithCallback(network, addr string, open func(network, addr string) (net.PacketConn, error)) (net.PacketConn, error) {
	f.opened = append(f.opened, network+"/"+addr)
	return open(network, addr)
}

func TestServeNamesListenerAndAddressOnFailure(t *testing.T) {
	raw := `{"listeners": {
		"a": {"address": "tcp/127.0.0.1:0", "module": "test"},
		"b": {"address": "tcp/127.0.0.9:1", "module": "test"}}}`
	l, err := loadConfig(context.Background(), []byte(raw), nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.cleanup()
	err = l.serve(&fakeSockets{})
	if err == nil || !strings.HasPrefix(err.Error(), `listener "b": tcp/127.0.0.9:1: dial: `) && !strings.HasPrefix(err.Error(), `listener "b": tcp/127.0.0.9:1: listen: `) {
		t.Fatalf("serve: %v", err)
	}
}

func TestRegisterModulePanicsOnDuplicate(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("registering listeners.test twice did not panic")
		}
	}()
	flipd.RegisterModule(new(testListener))
}

// A listener module whose Serve fails at once fails the start-up with
// its own message, before the generation could report ready; the other
// listeners stop serving.
func TestServeFailingAtOnceFailsTheStartUp(t *testing.T) {
	raw := `{"listeners": {
		"a": {"address": "tcp/127.0.0.1:0", "module": "test", "greeting": "hi"},
		"b": {"address": "tcp/127.0.0.2:0", "module": "test", "fail": "serve"}}}`
	l, err := loadConfig(context.Background(), []byte(raw), nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.cleanup()
	err = l.serve(&fakeSockets{})
	if err == nil || !strings.HasPrefix(err.Error(), `listener "b": tcp/127.0.0.2:0: serve refused: this socket will not do`) {
		t.Fatalf("serve: %v", err)
	}
	a := l.listeners[0].module.(*testListener)
	a.mu.Lock()
	ln := a.ln
	a.mu.Unlock()
	if ln != nil {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Fatal("listener a still accepts after the failed start-up")
		}
	}
}

// Modules that serve normally are not held up: serve returns once each
// has called Accept.
func TestServeReturnsOnceEveryModuleAccepts(t *testing.T) {
	raw := `{"listeners": {"a": {"address": "tcp/127.0.0.1:0", "module": "test", "greeting": "hi"}}}`
	l, err := loadConfig(context.Background(), []byte(raw), nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.cleanup()
	if err := l.serve(&fakeSockets{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.listeners[0].accepting:
	default:
		t.Fatal("serve returned before the module accepted")
	}
	l.stopServing()
}
