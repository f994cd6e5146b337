package tcp_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/flipd/flipd/modules/tcp"
)

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{`"5m"`, 5 * time.Minute, true},
		{`"1m30s"`, 90 * time.Second, true},
		{`"300ms"`, 300 * time.Millisecond, true},
		{`"0s"`, 0, true},
		{`"5 minutes"`, 0, false},
		{`""`, 0, false},
		{`300`, 0, false},
		{`null`, 0, true},
	}
	for _, tt := range tests {
		var d tcp.Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err == nil) != tt.ok || time.Duration(d) != tt.want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v, ok=%v", tt.in, d, err, tt.want, tt.ok)
		}
		if !tt.ok {
			continue
		}
		out, err := json.Marshal(d)
		var back tcp.Duration
		if err != nil || json.Unmarshal(out, &back) != nil || back != d {
			t.Errorf("round trip of %s: %s, %v", tt.in, out, err)
		}
	}
}
