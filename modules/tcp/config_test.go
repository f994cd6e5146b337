package tcp_test

import (
	"testing"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, config string
		want         []string // each must appear in the error
	}{
		{"unknown handler", `{"module": "tcp", "handle": {"module": "nope"}}`,
			[]string{`"handle"`, `unknown module "nope"`, "echo", "proxy"}},
		{"missing handler", `{"module": "tcp"}`,
			[]string{`"handle"`, "missing"}},
		{"unknown field", `{"module": "tcp", "max_con": 3, "handle": {"module": "echo"}}`,
			[]string{`"max_con"`}},
		{"unknown handler field", `{"module": "tcp", "handle": {"module": "echo", "loud": true}}`,
			[]string{`"loud"`}},
		{"negative max_conns", `{"module": "tcp", "max_conns": -1, "handle": {"module": "echo"}}`,
			[]string{`"max_conns"`, "-1"}},
		{"bad idle_timeout", `{"module": "tcp", "idle_timeout": "5 minutes", "handle": {"module": "echo"}}`,
			[]string{`"5 minutes"`, "duration"}},
		{"numeric idle_timeout", `{"module": "tcp", "idle_timeout": 300, "handle": {"module": "echo"}}`,
			[]string{`"idle_timeout"`, `want a duration string such as "30s", got 300`}},
		{"negative idle_timeout", `{"module": "tcp", "idle_timeout": "-1s", "handle": {"module": "echo"}}`,
			[]string{`"idle_timeout"`, "-1s"}},
		{"missing upstream", `{"module": "tcp", "handle": {"module": "proxy"}}`,
			[]string{`"upstream" is missing`}},
		{"upstream without port", `{"module": "tcp", "handle": {"module": "proxy", "upstream": "localhost"}}`,
			[]string{`"localhost"`, "port"}},
		{"upstream without host", `{"module": "tcp", "handle": {"module": "proxy", "upstream": ":9000"}}`,
			[]string{`":9000"`, "host"}},
		{"upstream port out of range", `{"module": "tcp", "handle": {"module": "proxy", "upstream": "127.0.0.1:99999"}}`,
			[]string{`"127.0.0.1:99999"`, "65535"}},
		{"bad entry in upstreams", `{"module": "tcp", "handle": {"module": "proxy", "upstreams": ["127.0.0.1:9000", "127.0.0.1:http"]}}`,
			[]string{`"127.0.0.1:http"`, "port"}},
		{"upstream and upstreams", `{"module": "tcp", "handle": {"module": "proxy", "upstream": "127.0.0.1:9000", "upstreams": ["127.0.0.1:9001"]}}`,
			[]string{"not both"}},
		{"negative dial_timeout", `{"module": "tcp", "handle": {"module": "proxy", "upstream": "127.0.0.1:9000", "dial_timeout": "-5s"}}`,
			[]string{`"dial_timeout"`}},
		{"numeric dial_timeout", `{"module": "tcp", "handle": {"module": "proxy", "upstream": "127.0.0.1:9000", "dial_timeout": 5}}`,
			[]string{`"dial_timeout"`, `want a duration string such as "30s", got 5`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.config)
			if err == nil {
				t.Fatalf("loading %s succeeded, want an error", tt.config)
			}
			contains(t, "error", err.Error(), tt.want...)
		})
	}
}

func TestConfigValid(t *testing.T) {
	for _, config := range []string{
		`{"module": "tcp", "handle": {"module": "echo"}}`,
		`{"module": "tcp", "handle": {"module": "echo"}, "max_conns": 0, "idle_timeout": "5m"}`,
		`{"module": "tcp", "handle": {"module": "proxy", "upstream": "127.0.0.1:9000", "dial_timeout": "5s"}}`,
		`{"module": "tcp", "handle": {"module": "proxy", "upstream": "[::1]:9000"}}`,
		`{"module": "tcp", "handle": {"module": "proxy", "upstreams": ["db.internal:5432", "10.0.0.2:5432"]}}`,
	} {
		if _, _, err := load(t, config); err != nil {
			t.Errorf("loading %s: %v", config, err)
		}
	}
}
