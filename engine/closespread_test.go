package engine

import (
	"context"
	"testing"
	"time"
)

func TestCloseSpreadReachesTheModulesContext(t *testing.T) {
	raw := `{"upgrade": {"close_spread": "3s"}, "listeners": {
		"a": {"address": "tcp/127.0.0.1:0", "module": "test", "greeting": "hi"}}}`
	l, err := loadConfig(context.Background(), []byte(raw), nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.cleanup()
	if got := l.state.CloseSpread; got != 3*time.Second {
		t.Errorf("the modules' shared state says close_spread is %s, want 3s", got)
	}
}
