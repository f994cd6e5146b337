package bench

import (
	"encoding/json"
	"fmt"
	"time"
)

// withStandby turns upgrade.standby on in a config flipdConfig made.
func withStandby(config string) string {
	var cfg map[string]any
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		panic(fmt.Sprintf("withStandby: flipdConfig made %q: %v", config, err))
	}
	up, _ := cfg["upgrade"].(map[string]any)
	if up == nil {
		up = map[string]any{}
		cfg["upgrade"] = up
	}
	up["standby"] = true
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return string(b)
}

// waitStandby waits until the serving generation has a warm standby (GET
// /status), as one does a reload's moment after the one before: the
// standby starts once the old generation has exited.
func (f *flipdProc) waitStandby(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := adminClient.Get("http://" + f.admin + "/status")
		if err == nil {
			var st struct {
				Standby *struct {
					Warm bool `json:"warm"`
				} `json:"standby"`
			}
			derr := json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if derr == nil && st.Standby != nil && st.Standby.Warm {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no warm standby within %s (GET /status: %v)", timeout, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
