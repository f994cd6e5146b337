package engine

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/flipd/flipd"
)

type movableLines struct{ key string }

func (m movableLines) ServeConn(context.Context, net.Conn) error { return nil }
func (m movableLines) HandoverKey() string                       { return m.key }
func (m movableLines) ResumeConn(context.Context, flipd.MovedConn) error {
	return nil
}

func wrappersKey(t *testing.T, raws ...string) string {
	t.Helper()
	var msgs []json.RawMessage
	for _, r := range raws {
		msgs = append(msgs, json.RawMessage(r))
	}
	return canonicalWrappers(msgs)
}

func TestTheHandoverKeyChangesWithAnythingAMovedConnectionDependsOn(t *testing.T) {
	key := func(addr, wrappers, module, handlerKey string) string {
		return (&listener{addr: Address{"tcp", addr}, wrapperKey: wrappers, moduleID: flipd.ModuleID(module),
			module: &flipd.ConnServer{Handler: movableLines{handlerKey}}}).handoverKey()
	}
	none := wrappersKey(t)
	base := key("127.0.0.1:7000", none, "listeners.tcp", "echo/1")
	if base == "" {
		t.Fatal("no key for a movable server")
	}
	for name, other := range map[string]string{
		"another address":     key("127.0.0.1:7001", none, "listeners.tcp", "echo/1"),
		"a wrapper added":     key("127.0.0.1:7000", wrappersKey(t, `{"module": "tls"}`), "listeners.tcp", "echo/1"),
		"another module":      key("127.0.0.1:7000", none, "listeners.other", "echo/1"),
		"another handler key": key("127.0.0.1:7000", none, "listeners.tcp", "proxy/1"),
	} {
		if other == base {
			t.Errorf("%s gives the same key %q", name, base)
		}
	}
	if k := key("127.0.0.1:7000", none, "listeners.tcp", ""); k != "" {
		t.Errorf("a handler that opts out has the key %q", k)
	}
	plain := &listener{addr: Address{"tcp", "127.0.0.1:7000"},
		module: &flipd.ConnServer{Handler: connHandlerFunc(nil)}}
	if k := plain.handoverKey(); k != "" {
		t.Errorf("a server that cannot move has the key %q", k)
	}
}

type connHandlerFunc func(context.Context, net.Conn) error

func (f connHandlerFunc) ServeConn(ctx context.Context, c net.Conn) error { return f(ctx, c) }

func TestEqualWrapperConfigsGiveEqualKeysWhateverTheirKeyOrderAndSpaces(t *testing.T) {
	a := wrappersKey(t, `{"module": "tls", "certificates": [{"cert_file": "c", "key_file": "k"}]}`)
	b := wrappersKey(t, `{"certificates":[{"key_file":"k","cert_file":"c"}],"module":"tls"}`)
	if a != b || !strings.Contains(a, "tls") {
		t.Fatalf("%q and %q", a, b)
	}
}

func TestMoveConnectionsIsOnUnlessTheConfigSaysFalse(t *testing.T) {
	off := false
	if !(UpgradeConfig{}).moveConnections() || (UpgradeConfig{MoveConnections: &off}).moveConnections() {
		t.Fatal("move_connections defaults wrong")
	}
	cfg, err := ParseConfig([]byte(`{"upgrade": {"move_connections": false}}`))
	if err != nil || cfg.Upgrade.moveConnections() {
		t.Fatalf("move_connections false in a config: %v", err)
	}
}
