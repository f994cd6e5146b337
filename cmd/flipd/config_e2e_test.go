//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Configs that encoding/json would take and that mean something else
// than they seem are refused with 400, naming the field, before anything
// starts; the generation that serves goes on with its config.
func TestAdminLoadRefusesAmbiguousConfigsAndKeepsServing(t *testing.T) {
	admin, addr, other := freeAddr(t), freeAddr(t), freeAddr(t)
	config := adminConfig(admin, addr, "one")
	d := startFlipd(t, config)
	base := "http://" + admin
	_, port, _ := strings.Cut(addr, ":")
	// A second listener, "aaa", sorts before "web": web is refused.
	twoListeners := func(spelling string) string {
		return strings.Replace(config, `"listeners": {`, fmt.Sprintf(`"listeners": {"aaa": {"address": %q, "module": "http", "routes": []}, `, spelling), 1)
	}
	for _, tc := range []struct{ name, body, field string }{
		{"null", `null`, ""},
		{"negative drain_timeout", strings.Replace(config, `"drain_timeout": "10s"`, `"drain_timeout": -1`, 1), ""},
		{"duplicate key", strings.Replace(config, `"drain_timeout": "10s"`, `"drain_timeout": "10s", "drain_timeout": "1ms"`, 1), "upgrade.drain_timeout"},
		{"key in another case", strings.Replace(config, `"drain_timeout": "10s"`, `"Drain_Timeout": "1ms"`, 1), "upgrade.Drain_Timeout"},
		{"negative shutdown_delay", strings.Replace(config, `"drain_timeout": "10s"`, `"drain_timeout": "10s", "shutdown_delay": "-5s"`, 1), "upgrade.shutdown_delay"},
		{"bare-number shutdown_delay", strings.Replace(config, `"drain_timeout": "10s"`, `"drain_timeout": "10s", "shutdown_delay": 5`, 1), "upgrade.shutdown_delay"},
		{"unknown log level", strings.Replace(config, `"upgrade"`, `"logging": {"level": "verbose"}, "upgrade"`, 1), "logging.level"},
		{"tcp4 and tcp spellings of one port", twoListeners("tcp4/" + addr), "listeners.web.address"},
		{"localhost and 127.0.0.1", twoListeners("tcp/localhost:" + port), "listeners.web.address"},
		{"wildcard and loopback", twoListeners("tcp/0.0.0.0:" + port), "listeners.web.address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := api(t, "POST", base+"/load", tc.body)
			if a.status != 400 || a.body["error"] == nil {
				t.Fatalf("POST /load: %d %s; want 400 with an error", a.status, a.raw)
			}
			if tc.field != "" && a.body["field"] != tc.field {
				t.Fatalf("POST /load: %s; want field %q", a.raw, tc.field)
			}
			requireLoadRefused(t, base, config, addr)
		})
	}
	if p := d.pid(); p != d.cmd.Process.Pid {
		t.Fatalf("pid file names %d after refusals, want generation 1's %d", p, d.cmd.Process.Pid)
	}

	// The shortest drain a config may ask for still lets the admin API
	// answer the load that ends its generation.
	tiny := strings.Replace(adminConfig(admin, other, "two"), `"drain_timeout": "10s"`, `"drain_timeout": "1ns"`, 1)
	for gen := 2.0; gen <= 4; gen++ {
		a := api(t, "POST", base+"/load", tiny)
		if a.status != 200 || a.body["generation"] != gen {
			t.Fatalf("POST /load to a generation with a 1ns drain: %d %q; want 200 and generation %v", a.status, a.raw, gen)
		}
		d.waitExit(int(a.body["draining"].(map[string]any)["pid"].(float64)))
	}
}

// A listener module whose Serve fails at once fails the reload with its
// own message; the generation that served goes on serving.
func TestListenerFailingToServeFailsTheReload(t *testing.T) {
	admin, addr, bad := freeAddr(t), freeAddr(t), freeAddr(t)
	config := adminConfig(admin, addr, "one")
	d := startTestFlipd(t, config)
	failing := strings.Replace(adminConfig(admin, addr, "two"), `"listeners": {`,
		fmt.Sprintf(`"listeners": {"bad": {"address": "tcp/%s", "module": "fail_serve", "message": "fail_serve: this socket will not do"}, `, bad), 1)
	a := api(t, "POST", "http://"+admin+"/load", failing)
	if a.status != 422 || !strings.Contains(a.raw, `listener \"bad\"`) || !strings.Contains(a.raw, "fail_serve: this socket will not do") {
		t.Fatalf("POST /load with a listener whose Serve fails: %d %s; want 422 with the module's message", a.status, a.raw)
	}
	if got := get(t, "http://"+addr+"/"); got != "one" {
		t.Fatalf("after the failed reload the answer is %q", got)
	}
	if got := api(t, "GET", "http://"+admin+"/config", ""); got.raw != config {
		t.Fatalf("the config changed after a failed reload:\n%s", got.raw)
	}
	if p := d.pid(); p != d.cmd.Process.Pid {
		t.Fatalf("pid file names %d, want generation 1's %d", p, d.cmd.Process.Pid)
	}
}

// SIGHUP and flipd validate refuse the same configs as POST /load.
func TestSIGHUPAndValidateRefuseAmbiguousConfigs(t *testing.T) {
	addr := freeAddr(t)
	d := startFlipd(t, staticConfig(addr, "one"))
	for _, tc := range []struct{ name, config, want string }{
		{"null", "null", "want a JSON object, not null"},
		{"duplicate key", strings.Replace(staticConfig(addr, "x"), `"drain_timeout": "10s"`, `"drain_timeout": "10s", "drain_timeout": "1ms"`, 1),
			`field "upgrade.drain_timeout": duplicate key`},
		{"negative duration", strings.Replace(staticConfig(addr, "x"), `"drain_timeout": "10s"`, `"drain_timeout": -1`, 1), "negative duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.t = t
			if logged := d.reloadFails(tc.config); !strings.Contains(logged, tc.want) && !strings.Contains(logged, strconv.Quote(tc.want)[1:len(strconv.Quote(tc.want))-1]) {
				t.Fatalf("SIGHUP: the log does not say %q:\n%s", tc.want, logged)
			}
			if got := get(t, "http://"+addr+"/"); got != "one" {
				t.Fatalf("after the refused config the answer is %q", got)
			}
			file := filepath.Join(t.TempDir(), "bad.json")
			os.WriteFile(file, []byte(tc.config), 0o644)
			out, err := exec.Command(flipdBin, "validate", "--config", file).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("flipd validate: %v\n%s\nwant an error containing %q", err, out, tc.want)
			}
		})
	}
}
