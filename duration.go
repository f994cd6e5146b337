package flipd

import (
	"encoding/json"
	"reflect"
	"time"
)

// Duration is a length of time in a config: a JSON string that
// time.ParseDuration reads, such as "250ms", "30s", "1m30s" or "2h".
// It is the one duration type of flipd's config and of its modules; use
// it for every duration field of yours, so that all of them follow one
// rule:
//
//   - a bare number is refused: 30 could mean seconds or nanoseconds;
//   - a negative length is refused: no setting has a use for one;
//   - so is any string time.ParseDuration does not read ("30", "5 min");
//   - "0s" (or "0") is zero, which for most fields means the default;
//   - null leaves the field as it was, as for any other field.
//
// A refusal names the field and what is wanted, such as
// `upgrade.drain_timeout: want a duration string such as "30s", got 30`.
// MarshalJSON writes the string form ("1m30s"), which reads back.
type Duration time.Duration

var durationType = reflect.TypeFor[Duration]()

// wantDuration begins the message of a refused duration; describeJSONError
// adds what was written.
const wantDuration = `want a duration string such as "30s", got `

// UnmarshalJSON reads a duration string such as "30s"; see Duration for
// what is refused.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json does for any field set to null
	}
	// encoding/json names the field only in an *UnmarshalTypeError, so
	// its Value says what was written and why it is refused; the
	// message begins with wantDuration (see describeJSONError).
	refuse := func(why string) error {
		return &json.UnmarshalTypeError{Value: quote(b) + why, Type: durationType}
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		if n, err := json.Number(b).Float64(); err == nil && n < 0 {
			return refuse(" (a negative duration)")
		}
		return refuse("")
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return refuse(" (units: ns, us, ms, s, m, h)")
	case v < 0:
		return refuse(" (a negative duration)")
	}
	*d = Duration(v)
	return nil
}

// quote bounds what a refusal repeats of a value written in JSON.
func quote(b []byte) string {
	const most = 40
	if len(b) > most {
		return string(b[:most]) + "..."
	}
	return string(b)
}

// MarshalJSON writes the duration as a string, such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// String formats the duration as time.Duration does: "1m30s".
func (d Duration) String() string { return time.Duration(d).String() }

// Or returns d, or def if d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}
