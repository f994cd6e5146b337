package flipdhttp

import (
	"encoding/json"
	"testing"
)

func TestHTTP3ForwardIsOnUnlessTheConfigSwitchesItOff(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"http3": true}`:                         true,
		`{"http3": true, "http3_forward": true}`:  true,
		`{"http3": true, "http3_forward": false}`: false,
	} {
		var s Server
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := s.QUICForwarding(); got != want {
			t.Errorf("%s: QUICForwarding() = %v, want %v", raw, got, want)
		}
	}
}
