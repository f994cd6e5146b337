package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flipd/flipd"
)

func TestBadSocketOptionsAreRefusedNamingTheListenerAndField(t *testing.T) {
	for _, tc := range []struct{ listener, want string }{
		{`{"address": "tcp/127.0.0.1:0", "module": "test", "backlog": -1}`, `"backlog" is -1: want a number from 1 to 65536`},
		{`{"address": "tcp/127.0.0.1:0", "module": "test", "backlog": 100000}`, `"backlog" is 100000`},
		{`{"address": "tcp/127.0.0.1:0", "module": "test", "recv_buffer": -5}`, `"recv_buffer" is -5`},
		{`{"address": "tcp/127.0.0.1:0", "module": "test", "send_buffer": 4294967296}`, `"send_buffer" is 4294967296`},
		{`{"address": "tcp/127.0.0.1:0", "module": "test", "recv_buffer": "4MB"}`, `recv_buffer`},
		{`{"address": "tcp/127.0.0.1:0", "module": "test", "reuse_port": "yes"}`, `reuse_port`},
		{`{"address": "udp/127.0.0.1:0", "module": "testpacket", "backlog": 10}`, `"backlog": udp/127.0.0.1:0 is a datagram socket, which has no accept queue`},
		{`{"address": "unix//tmp/x.sock", "module": "test", "reuse_port": true}`, `"reuse_port": unix//tmp/x.sock is a unix socket`},
	} {
		err := Validate([]byte(`{"admin": {"disabled": true}, "listeners": {"web": ` + tc.listener + `}}`))
		var ce *flipd.ConfigError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ce) || !strings.HasPrefix(ce.Field, "listeners.web") {
			t.Errorf("%s: %v\nwant a ConfigError of listeners.web containing %q", tc.listener, err, tc.want)
		}
	}
}

// loadFor loads raw without serving it.
func loadFor(t *testing.T, raw string) *loaded {
	t.Helper()
	l, err := loadConfig(context.Background(), []byte(raw), nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.cleanup() })
	return l
}

func TestAReloadThatChangesWhatABoundSocketCannotChangeIsRefused(t *testing.T) {
	cfg := func(name, opts string) string {
		return `{"admin": {"disabled": true}, "listeners": {"` + name + `": {"address": "tcp/127.0.0.1:7001", "module": "test"` + opts + `}}}`
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"reuse_port on", cfg("web", ``), cfg("web", `, "reuse_port": true`),
			`listeners.web: reuse_port changes from false to true, but the new generation inherits the socket of tcp/127.0.0.1:7001 as it is, and SO_REUSEPORT cannot change on a bound socket: to apply it, stop and start flipd`},
		{"reuse_port off, renamed", cfg("old", `, "reuse_port": true`), cfg("web", ``),
			`reuse_port changes from true to false, but the new generation inherits the socket of tcp/127.0.0.1:7001 (listener "old"'s until now) as it is`},
		{"recv_buffer left out", cfg("web", `, "recv_buffer": 65536`), cfg("web", ``),
			`recv_buffer is left out, but the socket of tcp/127.0.0.1:7001 that the new generation inherits keeps 65536`},
		{"backlog left out", cfg("web", `, "backlog": 50`), cfg("web", ``),
			`backlog is left out, but the socket of tcp/127.0.0.1:7001 that the new generation inherits keeps 50: set "backlog" to the value you want instead`},
		{"changes applied in place", cfg("web", `, "backlog": 50, "recv_buffer": 1000`), cfg("web", `, "backlog": 500, "recv_buffer": 2000, "send_buffer": 3000`), ``},
		{"reuse_port kept", cfg("web", `, "reuse_port": true`), cfg("web", `, "reuse_port": true, "backlog": 9`), ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSocketChanges(loadFor(t, tc.from), loadFor(t, tc.to))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *flipd.ConfigError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ce) {
				t.Fatalf("got %v\nwant a ConfigError containing %q", err, tc.want)
			}
		})
	}
	// A new address has a new socket: anything goes.
	other := `{"admin": {"disabled": true}, "listeners": {"web": {"address": "tcp/127.0.0.1:7002", "module": "test", "reuse_port": true}}}`
	if err := checkSocketChanges(loadFor(t, cfg("web", ``)), loadFor(t, other)); err != nil {
		t.Fatalf("a listener moved to a new address with new options was refused: %v", err)
	}
}

// The refusal comes before any process is started, and the generation
// keeps serving.
func TestAReloadRefusedForASocketOptionStartsNothing(t *testing.T) {
	f := newFakeUpgrader(1)
	in := startOn(t, f, testConfig(t, ""), Options{})
	next := strings.Replace(testConfig(t, ""), `"greeting": "hi"`, `"greeting": "hi", "reuse_port": true`, 1)
	_, err := in.Reload([]byte(next), ReloadOptions{Source: "api"})
	if err == nil || !strings.Contains(err.Error(), `listeners.t: reuse_port changes from false to true`) {
		t.Fatalf("Reload: %v", err)
	}
	f.mu.Lock()
	upgrades := len(f.upgrades)
	f.mu.Unlock()
	if upgrades != 0 {
		t.Fatalf("%d upgrades were started", upgrades)
	}
	if st := in.Status(); st.State != StateActive {
		t.Fatalf("state %q after the refusal, want active", st.State)
	}
}
