package bench

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// withStandby turns upgrade.standby on in a config flipdConfig made.
func withStandby(config string) string {
	return strings.Replace(config, `"max_draining": 4`, `"max_draining": 4, "standby": true`, 1)
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
