package flipdcmd

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStatusShowsTheStandby(t *testing.T) {
	var doc statusDoc
	raw := `{"generations": [{"generation": 3, "pid": 120, "state": "active"}], "standby": {"pid": 131, "warm": true}}`
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printStatus(&out, doc)
	if !strings.Contains(out.String(), "standby pid 131 (warm)") {
		t.Errorf("status without the standby:\n%s", out.String())
	}
	doc.Standby = nil
	out.Reset()
	printStatus(&out, doc)
	if strings.Contains(out.String(), "standby") {
		t.Errorf("status names a standby there is none of:\n%s", out.String())
	}
}
