package tcp

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a length of time written in JSON as a string that
// time.ParseDuration understands: "300ms", "5s", "1m30s", "2h". A bare
// number is refused, since it would be unclear whether it meant seconds
// or nanoseconds.
type Duration time.Duration

// UnmarshalJSON reads a duration string such as "5m". Null leaves d as
// it was.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json does for a field set to null
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("invalid duration %s: want a string such as \"5s\" or \"1m30s\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a string such as \"5s\" or \"1m30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string such as "5m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// String formats the duration as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }
