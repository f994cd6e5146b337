package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd"
)

// A duration is a string time.ParseDuration reads, and nothing else: a
// bare number (seconds? nanoseconds?), a negative length and a string
// without a unit are refused, naming the field and saying what is wanted.
func TestDurationsAreStringsAndTheRefusalNamesTheFieldAndWhatIsWanted(t *testing.T) {
	for _, tc := range []struct{ name, config, field, want string }{
		{"a bare number", `{"upgrade": {"drain_timeout": 30}}`, "upgrade.drain_timeout",
			`config: upgrade.drain_timeout: want a duration string such as "30s", got 30`},
		{"a bare number of nanoseconds", `{"upgrade": {"timeout": 1000000000}}`, "upgrade.timeout",
			`upgrade.timeout: want a duration string such as "30s", got 1000000000`},
		{"zero as a bare number", `{"upgrade": {"shutdown_delay": 0}}`, "upgrade.shutdown_delay",
			`upgrade.shutdown_delay: want a duration string such as "30s", got 0`},
		{"a fraction", `{"upgrade": {"timeout": 1.5}}`, "upgrade.timeout", `got 1.5`},
		{"a negative number", `{"upgrade": {"drain_timeout": -1}}`, "upgrade.drain_timeout", `got -1 (a negative duration)`},
		{"a negative string", `{"upgrade": {"drain_timeout": "-1s"}}`, "upgrade.drain_timeout", `got "-1s" (a negative duration)`},
		{"no unit", `{"upgrade": {"timeout": "30"}}`, "upgrade.timeout", `got "30" (units: ns, us, ms, s, m, h)`},
		{"an empty string", `{"upgrade": {"timeout": ""}}`, "upgrade.timeout", `got ""`},
		{"words", `{"upgrade": {"timeout": "soon"}}`, "upgrade.timeout", `got "soon"`},
		{"a bool", `{"upgrade": {"timeout": true}}`, "upgrade.timeout", `got true`},
		{"an object", `{"upgrade": {"timeout": {"s": 1}}}`, "upgrade.timeout", `got {"s": 1}`},
		{"too long", `{"upgrade": {"timeout": "9999999h"}}`, "upgrade.timeout", `got "9999999h"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v\nwant an error containing %q", err, tc.want)
			}
			var ce *flipd.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("the error %v (%T) does not name field %q", err, err, tc.field)
			}
		})
	}
}

// Strings time.ParseDuration reads are taken, zero included; null, as
// for any field, leaves the field as it was.
func TestDurationStringsAreTaken(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`"30s"`: 30 * time.Second, `"1m30s"`: 90 * time.Second, `"250ms"`: 250 * time.Millisecond,
		`"2h"`: 2 * time.Hour, `"0s"`: 0, `"0"`: 0, `null`: 7,
	} {
		d := flipd.Duration(7)
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
}

// A Duration is written as the string it is read from, so that a config
// flipd writes back (GET /config, the resume file) loads again.
func TestDurationIsWrittenAsAStringThatReadsBack(t *testing.T) {
	for _, d := range []flipd.Duration{0, flipd.Duration(time.Millisecond), flipd.Duration(90 * time.Second), flipd.Duration(36 * time.Hour)} {
		b, err := json.Marshal(d)
		if err != nil || b[0] != '"' {
			t.Fatalf("Marshal(%v) = %s, %v; want a JSON string", time.Duration(d), b, err)
		}
		var back flipd.Duration
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Fatalf("%s reads back as %v, %v; want %v", b, time.Duration(back), err, time.Duration(d))
		}
	}
	if got := fmt.Sprint(flipd.Duration(90 * time.Second)); got != "1m30s" {
		t.Fatalf("printed as %q, want \"1m30s\"", got)
	}
}
