// Package container_test checks examples/container without docker or
// kubectl: the Dockerfile, the Kubernetes manifest and the config they
// share must agree with each other and with what flipd accepts.
package container_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flipd/flipd/engine"

	_ "github.com/flipd/flipd/modules/standard"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case
	args string
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// finalStage is the instructions after the last FROM.
func finalStage(ins []instruction) []instruction {
	last := 0
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	return ins[last:]
}

func args(ins []instruction, cmd string) []string {
	var out []string
	for _, in := range ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// containerConfig is examples/container/flipd.json, decoded.
func containerConfig(t *testing.T) (raw []byte, cfg *engine.Config) {
	t.Helper()
	raw, err := os.ReadFile("flipd.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = engine.ParseConfig(raw)
	if err != nil {
		t.Fatalf("flipd.json: %v", err)
	}
	return raw, cfg
}

func TestTheContainerConfigIsValidAndKeepsAdminOnAUnixSocket(t *testing.T) {
	raw, cfg := containerConfig(t)
	if err := engine.Validate(raw); err != nil {
		t.Fatalf("flipd.json does not validate: %v", err)
	}
	if !strings.HasPrefix(cfg.Admin.Listen, "unix//run/flipd/") {
		t.Errorf("admin.listen is %q, want a unix socket in the /run/flipd volume", cfg.Admin.Listen)
	}
}

func TestTheDockerfileBuildsAStaticNonRootImageThatRunsSupervised(t *testing.T) {
	ins := readDockerfile(t)
	froms := args(ins, "FROM")
	if len(froms) < 2 || !strings.HasSuffix(strings.ToLower(froms[0]), " as build") {
		t.Fatalf("FROM lines %q, want a multi-stage build whose first stage is named build", froms)
	}
	if runs := strings.Join(args(ins, "RUN"), "\n"); !strings.Contains(runs, "CGO_ENABLED=0") || !strings.Contains(runs, "go build") {
		t.Errorf("the build stage does not build a static binary (CGO_ENABLED=0 go build): %q", runs)
	}

	final := finalStage(ins)
	users := args(final, "USER")
	if len(users) == 0 {
		t.Fatal("the final stage runs as root: no USER")
	}
	if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "root" || u == "0" {
		t.Errorf("the final stage runs as %q, want a non-root user", users[len(users)-1])
	}
	if s := args(final, "STOPSIGNAL"); len(s) != 1 || s[0] != "SIGTERM" {
		t.Errorf("STOPSIGNAL %q, want SIGTERM", s)
	}
	volumes := strings.Join(args(final, "VOLUME"), " ")
	_, cfg := containerConfig(t)
	adminDir := path.Dir(strings.TrimPrefix(cfg.Admin.Listen, "unix/"))
	if !strings.Contains(volumes, `"`+adminDir+`"`) {
		t.Errorf("VOLUME %s does not hold the admin socket's directory %s", volumes, adminDir)
	}

	entry := entrypoint(t, final)
	// Plain flipd run is supervised (one pid for life) unless told
	// --no-supervisor: PID 1 must be that supervisor, not a generation.
	supervised := []string{"/flipd", "run", "--config"}
	if len(entry) != len(supervised)+1 || !slices.Equal(entry[:len(supervised)], supervised) {
		t.Fatalf("ENTRYPOINT %q, want %q CONFIG: flipd run, whose supervisor is PID 1", entry, supervised)
	}
	configPath := entry[len(entry)-1]
	copies := args(final, "COPY")
	if !slices.Contains(copies, "examples/container/flipd.json "+configPath) {
		t.Errorf("no COPY puts examples/container/flipd.json at %s, where the entrypoint reads it: %q", configPath, copies)
	}
	for _, c := range args(ins, "COPY") {
		if strings.HasPrefix(c, "--from=") {
			continue
		}
		fields := strings.Fields(c)
		for _, src := range fields[:len(fields)-1] {
			if _, err := os.Stat(filepath.Join("..", "..", src)); err != nil {
				t.Errorf("COPY %s: %v", c, err)
			}
		}
	}
}

func entrypoint(t *testing.T, final []instruction) []string {
	t.Helper()
	e := args(final, "ENTRYPOINT")
	var entry []string
	if len(e) != 1 || json.Unmarshal([]byte(e[0]), &entry) != nil {
		t.Fatalf("ENTRYPOINT %q, want one, in exec (JSON) form, so that PID 1 is flipd and not a shell", e)
	}
	return entry
}

// manifest is the part of a Kubernetes object these tests read.
type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Selector yaml.Node `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []struct {
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe probe `yaml:"readinessProbe"`
		LivenessProbe  probe `yaml:"livenessProbe"`
		Lifecycle      struct {
			PreStop struct {
				Sleep struct {
					Seconds int `yaml:"seconds"`
				} `yaml:"sleep"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// handlerFor is the module of the handler that the config's "web"
// listener routes a GET of path to: the first route whose paths hold it,
// or that has no match.
func handlerFor(t *testing.T, cfg *engine.Config, path string) string {
	t.Helper()
	var web struct {
		Routes []struct {
			Match *struct {
				Path []string `json:"path"`
			} `json:"match"`
			Handle struct {
				Module string `json:"module"`
			} `json:"handle"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(cfg.Listeners["web"], &web); err != nil {
		t.Fatalf("the config's web listener: %v", err)
	}
	for _, r := range web.Routes {
		if r.Match == nil || slices.Contains(r.Match.Path, path) {
			return r.Handle.Module
		}
	}
	return ""
}

func readManifests(t *testing.T) map[string]manifest {
	t.Helper()
	b, err := os.ReadFile("kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]manifest{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		out[m.Kind] = m
	}
}

func TestTheKubernetesManifestServesTheConfigAndStopsCleanly(t *testing.T) {
	ms := readManifests(t)
	cm, dep, svc := ms["ConfigMap"], ms["Deployment"], ms["Service"]
	if cm.Kind == "" || dep.Kind == "" || svc.Kind == "" {
		t.Fatalf("kubernetes.yaml holds %d objects, want a ConfigMap, a Deployment and a Service", len(ms))
	}
	raw, cfg := containerConfig(t)
	var want, got any
	json.Unmarshal(raw, &want)
	if err := json.Unmarshal([]byte(cm.Data["flipd.json"]), &got); err != nil {
		t.Fatalf("the ConfigMap's flipd.json is not JSON: %v", err)
	}
	if !jsonEqual(want, got) {
		t.Error("the ConfigMap's flipd.json differs from examples/container/flipd.json")
	}

	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !pod.SecurityContext.RunAsNonRoot {
		t.Error("the pod does not require runAsNonRoot")
	}
	// Readiness follows the generation (503 while it stops); liveness
	// must not, or a stopping pod would be restarted.
	if p := c.ReadinessProbe.HTTPGet; p.Port != "http" || handlerFor(t, cfg, p.Path) != "health" {
		t.Errorf("readiness probe %+v, want a GET on the http port of a path routed to the health handler", p)
	}
	if p := c.LivenessProbe.HTTPGet; p.Path == "" || handlerFor(t, cfg, p.Path) == "health" || handlerFor(t, cfg, p.Path) == "" {
		t.Errorf("liveness probe %+v, want a path routed to a handler other than health", p)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || !strings.Contains(cm.Data["flipd.json"], `"tcp/:`+strconv.Itoa(c.Ports[0].ContainerPort)+`"`) {
		t.Errorf("container ports %+v do not match the config's listener", c.Ports)
	}
	// Before it stops accepting, the pod must wait for its endpoint to
	// be removed everywhere: with upgrade.shutdown_delay (readiness
	// answers 503 meanwhile) or a preStop sleep.
	sleep := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	delay := time.Duration(cfg.Upgrade.ShutdownDelay)
	if sleep+delay <= 0 {
		t.Error("no upgrade.shutdown_delay and no preStop sleep: the pod would stop accepting before its endpoint is removed")
	}
	drain := time.Duration(cfg.Upgrade.DrainTimeout)
	if grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second; grace <= sleep+delay+drain {
		t.Errorf("terminationGracePeriodSeconds %v does not cover preStop %v, shutdown_delay %v and drain_timeout %v", grace, sleep, delay, drain)
	}

	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	entry := entrypoint(t, finalStage(readDockerfile(t)))
	configDir := path.Dir(entry[len(entry)-1])
	adminDir := path.Dir(strings.TrimPrefix(cfg.Admin.Listen, "unix/"))
	for _, dir := range []string{configDir, adminDir, cfg.Storage.Dir, "/tmp"} {
		if mounts[dir] == "" {
			t.Errorf("nothing is mounted at %s (mounts: %v)", dir, mounts)
		}
	}
	configMapped := false
	for _, v := range pod.Volumes {
		configMapped = configMapped || (v.Name == mounts[configDir] && v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name)
	}
	if !configMapped {
		t.Errorf("%s is not the ConfigMap %q", configDir, cm.Metadata.Name)
	}
	var selector map[string]string
	svc.Spec.Selector.Decode(&selector)
	for k, v := range selector {
		if dep.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods do not carry", k, v)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
