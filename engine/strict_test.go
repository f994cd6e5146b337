package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/flipd/flipd"
)

// Configs that encoding/json alone would take, each meaning something
// other than what its author likely meant, are refused before anything
// starts, and the refusal names the field.
func TestAmbiguousConfigsAreRefusedNamingTheField(t *testing.T) {
	web := func(addr string) string {
		return `{"address": "` + addr + `", "module": "test"}`
	}
	two := func(a, b string) string {
		return `{"admin": {"disabled": true}, "listeners": {"a": ` + web(a) + `, "b": ` + web(b) + `}}`
	}
	for _, tc := range []struct{ name, config, field, want string }{
		{"null", `null`, "", "want a JSON object, not null"},
		{"null with spaces", " \n null \n", "", "want a JSON object, not null"},
		{"an array", `[]`, "", "want a JSON object, not an array"},
		{"a stray brace after the object", `{}}`, "", "unexpected data after the JSON object"},
		{"negative drain_timeout", `{"upgrade": {"drain_timeout": -1}}`, "", `upgrade.drain_timeout: want a duration string such as "30s", got -1 (a negative duration)`},
		{"negative upgrade timeout", `{"upgrade": {"timeout": -5000000000}}`, "", `negative duration`},
		{"negative shutdown_delay", `{"upgrade": {"shutdown_delay": "-5s"}}`, "upgrade.shutdown_delay", `upgrade.shutdown_delay: want a duration string such as "30s", got "-5s" (a negative duration)`},
		{"bare-number shutdown_delay", `{"upgrade": {"shutdown_delay": 5}}`, "upgrade.shutdown_delay", `upgrade.shutdown_delay: want a duration string such as "30s", got 5`},
		{"negative bare-number shutdown_delay", `{"upgrade": {"shutdown_delay": -5}}`, "upgrade.shutdown_delay", `shutdown_delay`},
		{"shutdown_delay without a unit", `{"upgrade": {"shutdown_delay": "5"}}`, "upgrade.shutdown_delay", `upgrade.shutdown_delay: want a duration string such as "30s", got "5" (units: ns, us, ms, s, m, h)`},
		{"duplicate top-level key", `{"upgrade": {}, "upgrade": {"drain_timeout": "1s"}}`, "upgrade", `field "upgrade": duplicate key`},
		{"duplicate nested key", `{"upgrade": {"drain_timeout": "1s", "drain_timeout": "1h"}}`, "upgrade.drain_timeout", `duplicate key`},
		{"key in another case", `{"upgrade": {"Drain_Timeout": "1h"}}`, "upgrade.Drain_Timeout", `keys are case-sensitive: write "upgrade.drain_timeout"`},
		{"top-level key in another case", `{"Listeners": {}}`, "Listeners", `write "listeners"`},
		{"duplicate listener", `{"listeners": {"web": ` + web("tcp/127.0.0.1:1") + `, "web": ` + web("tcp/127.0.0.1:2") + `}}`, "listeners.web", "duplicate key"},
		{"duplicate key in a listener", `{"listeners": {"web": {"address": "tcp/127.0.0.1:1", "address": "tcp/127.0.0.1:2", "module": "test"}}}`,
			"listeners.web.address", "duplicate key"},
		{"listener key in another case", `{"listeners": {"web": {"Address": "tcp/127.0.0.1:1", "module": "test"}}}`, "listeners.web", `write "address"`},
		{"module key in another case", `{"listeners": {"web": {"address": "tcp/127.0.0.1:1", "module": "test", "Greeting": "x"}}}`, "listeners.web", `write "greeting"`},
		{"duplicate module key", `{"listeners": {"web": {"address": "tcp/127.0.0.1:1", "module": "test", "greeting": "x", "greeting": "y"}}}`, "listeners.web.greeting", `duplicate key`},
		{"unknown log level", `{"logging": {"level": "verbose"}}`, "logging.level", `"verbose" is not one of`},
		{"log level in capitals", `{"logging": {"level": "INFO"}}`, "logging.level", `"INFO" is not one of`},
		{"tcp4 and tcp spellings", two("tcp4/127.0.0.1:8080", "tcp/127.0.0.1:8080"), "listeners.b.address", "tcp/127.0.0.1:8080 overlaps tcp4/127.0.0.1:8080 of listener \"a\""},
		{"localhost and 127.0.0.1", two("tcp/localhost:8080", "tcp/127.0.0.1:8080"), "listeners.b.address", "overlaps"},
		{"localhost and ::1", two("tcp/localhost:8080", "tcp6/[::1]:8080"), "listeners.b.address", "overlaps"},
		{"wildcard and loopback", two("tcp/0.0.0.0:8080", "tcp/127.0.0.1:8080"), "listeners.b.address", "overlaps"},
		{"empty host and loopback", two("tcp/:8080", "tcp/127.0.0.1:8080"), "listeners.b.address", "overlaps"},
		{"IPv6 wildcard and IPv4", two("tcp/127.0.0.1:8080", "tcp/[::]:8080"), "listeners.b.address", "overlaps"},
		{"service name and number", two("tcp/127.0.0.1:http", "tcp4/127.0.0.1:80"), "listeners.b.address", "overlaps"},
		{"two spellings of a unix path", two("unix//tmp/x.sock", "unix//tmp//x.sock"), "listeners.b.address", "overlaps"},
		{"a listener on the admin port", `{"admin": {"listen": "127.0.0.1:2019"}, "listeners": {"a": ` + web("tcp/0.0.0.0:2019") + `}}`,
			"listeners.a.address", "of the admin API"},
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
			if ce.Field != tc.field && !strings.HasPrefix(ce.Field, tc.field+".") && tc.field != "" {
				t.Fatalf("the error names field %q, want %q: %v", ce.Field, tc.field, err)
			}
		})
	}
}

// The same checks must not refuse what is fine.
func TestDistinctListenersAndExactKeysAreAccepted(t *testing.T) {
	for _, config := range []string{
		`{"admin": {"disabled": true}, "listeners": {"a": {"address": "tcp/127.0.0.1:8080", "module": "test"}, "b": {"address": "tcp/127.0.0.2:8080", "module": "test"}}}`,
		`{"admin": {"disabled": true}, "listeners": {"a": {"address": "tcp/127.0.0.1:8080", "module": "test"}, "b": {"address": "tcp/127.0.0.1:8081", "module": "test"}}}`,
		`{"admin": {"disabled": true}, "listeners": {"a": {"address": "tcp/127.0.0.1:0", "module": "test"}, "b": {"address": "tcp/0.0.0.0:0", "module": "test"}}}`,
		`{"admin": {"disabled": true}, "listeners": {"a": {"address": "tcp/localhost:8080", "module": "test"}, "b": {"address": "tcp/example.com:8080", "module": "test"}}}`,
		`{"admin": {"disabled": true}, "listeners": {"a": {"address": "tcp4/localhost:8080", "module": "test"}, "b": {"address": "tcp6/[::1]:8080", "module": "test"}}}`,
		`{"upgrade": {"drain_timeout": "1s", "timeout": "0s"}, "logging": {"level": "debug"}}`,
		`{"upgrade": {"shutdown_delay": "5s", "drain_timeout": "30s"}}`,
		`{"upgrade": {"shutdown_delay": "0s"}}`,
		`{"listeners": {"web": {"address": "tcp/127.0.0.1:1", "module": "test", "wrappers": [{"module": "testwrap", "tag": "a"}, {"module": "testwrap", "tag": "a"}]}}}`,
	} {
		if err := Validate([]byte(config)); err != nil {
			t.Errorf("Validate(%s): %v", config, err)
		}
	}
}
