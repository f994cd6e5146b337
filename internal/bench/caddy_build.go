package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// caddyModule is Caddy's Go module, built from the module proxy.
const caddyModule = "github.com/caddyserver/caddy/v2"

// caddyBuildLimit bounds resolving and building Caddy (minutes on two
// cores the first time, a cache hit afterwards).
const caddyBuildLimit = 15 * time.Minute

// caddyCacheDir is where built Caddy binaries are kept, one directory
// per version: the user's cache directory, beside Go's build cache.
func caddyCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "flipd-bench"), nil
}

// latestCaddy asks the go command (and so the module proxy) for Caddy's
// latest release.
func latestCaddy(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-json", caddyModule+"@latest")
	cmd.Dir, cmd.Env = os.TempDir(), append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list %s@latest: %w", caddyModule, err)
	}
	var m struct{ Version string }
	if err := json.Unmarshal(out, &m); err != nil || m.Version == "" {
		return "", fmt.Errorf("go list %s@latest said no version: %s", caddyModule, out)
	}
	return m.Version, nil
}

// caddyBinary is the latest Caddy release, built with go install into
// the cache (once per version) and returned from there after. logf
// reports a build, which takes minutes.
func caddyBinary(logf func(string, ...any)) (string, error) {
	cache, err := caddyCacheDir()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), caddyBuildLimit)
	defer cancel()
	version, err := latestCaddy(ctx)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "caddy-"+version)
	bin := filepath.Join(dir, "caddy")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	// Built into a directory of its own, renamed into place when done:
	// a build cut short leaves no binary behind.
	tmp, err := os.MkdirTemp(cache, "build")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	logf("building Caddy %s into %s (minutes, once per version)", version, dir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "install", caddyModule+"/cmd/caddy@"+version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building Caddy %s: %w\n%s", version, err, tailBytes(out, 2000))
	}
	logf("built Caddy %s in %s", version, time.Since(start).Round(time.Second))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, "caddy"), bin); err != nil {
		return "", fmt.Errorf("keeping the Caddy binary: %w", err)
	}
	return bin, nil
}

func tailBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// cachedCaddy is the newest Caddy binary already built into the cache,
// without asking the module proxy, or "".
func cachedCaddy() string {
	cache, err := caddyCacheDir()
	if err != nil {
		return ""
	}
	found, _ := filepath.Glob(filepath.Join(cache, "caddy-v*", "caddy"))
	best, bestVersion := "", ""
	for _, f := range found {
		v := strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "caddy-")
		if bestVersion == "" || slices.Compare(versionParts(v), versionParts(bestVersion)) > 0 {
			best, bestVersion = f, v
		}
	}
	return best
}

// versionParts is "v2.11.9" as [2 11 9]; a pre-release counts as its
// release.
func versionParts(v string) []int {
	v, _, _ = strings.Cut(strings.TrimPrefix(v, "v"), "-")
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, _ := strconv.Atoi(p)
		out = append(out, n)
	}
	return out
}
