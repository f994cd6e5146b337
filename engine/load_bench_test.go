package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	_ "github.com/flipd/flipd/modules/standard"
)

// benchConfig is the benchmark's reload config (internal/bench's
// flipdConfig): the admin API and 10 HTTP listeners with a static body.
func benchConfig(dir string) []byte {
	var ls []string
	for i := range 10 {
		ls = append(ls, fmt.Sprintf(`"l%04d": {"address": "tcp/127.0.1.%d:%d", "module": "http", "routes": [{"handle": {"module": "static_response", "body": "a"}}]}`, i, i+1, 20000+i))
	}
	return []byte(`{"admin": {"listen": "127.0.0.1:2999"}, "storage": {"dir": "` + dir + `"}, "upgrade": {"timeout": "30s", "drain_timeout": "30s", "max_draining": 4}, "logging": {"level": "info"}, "listeners": {` + strings.Join(ls, ",") + `}}`)
}

// What validating a reload's config costs the old generation, and
// provisioning it the new one.
func BenchmarkLoadConfig10(b *testing.B) {
	raw := benchConfig(b.TempDir())
	log := hclog.NewNullLogger()
	for b.Loop() {
		l, err := loadConfig(context.Background(), raw, log, 2, nil)
		if err != nil {
			b.Fatal(err)
		}
		l.cleanup()
	}
}

// What the new generation spends parsing its config before it knows how
// to log.
func BenchmarkParseConfig10(b *testing.B) {
	raw := benchConfig(b.TempDir())
	for b.Loop() {
		if _, err := ParseConfig(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// warmUp runs beside a new generation's start-up: it must share nothing
// with loading a config that the race detector would object to, and
// leave the config's result as it would be without it.
func TestWarmingUpBesideALoadChangesNothing(t *testing.T) {
	raw := benchConfig(t.TempDir())
	done := make(chan struct{})
	go func() {
		defer close(done)
		warmUp()
	}()
	l, err := loadConfig(context.Background(), raw, hclog.NewNullLogger(), 2, nil)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	defer l.cleanup()
	if len(l.listeners) != 10 {
		t.Errorf("loaded %d listeners, want 10", len(l.listeners))
	}
}

// The warm-up payload must decode whole, history and histograms included,
// or their types are decoded cold in the first real payload.
func TestTheWarmUpPayloadHasEveryPartOfARealOne(t *testing.T) {
	var p payload
	if err := json.Unmarshal(warmPayload, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Stats.History) != 1 || p.Stats.UpgradeSeconds.Count != 1 || p.Stats.DrainSeconds.Count != 1 ||
		p.Sent.IsZero() || len(p.State) != 1 {
		t.Fatalf("the warm-up payload decodes to %+v: some part is missing", p)
	}
}
