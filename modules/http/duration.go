package http

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// duration is a time.Duration written in JSON as a string that
// time.ParseDuration accepts: "250ms", "10s", "1m30s". Negative values are
// refused, since no setting of this package has a use for them.
//
// It is unexported so that it can give way to a shared type of the runtime
// without changing this package's API; Go code setting a field of this
// type converts an untyped constant: duration(10 * time.Second).
type duration time.Duration

// UnmarshalJSON implements [json.Unmarshaler]. Its errors are
// [json.UnmarshalTypeError]s because encoding/json adds the name of the
// field to those only, and a config author needs it.
func (d *duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as for any other field: left unset
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return durationError(fmt.Sprintf("%s %s (write a string such as \"10s\")", jsonKind(b), b))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return durationError(fmt.Sprintf("string %q (units: ns, us, ms, s, m, h)", s))
	}
	if v < 0 {
		return durationError(fmt.Sprintf("string %q (must not be negative)", s))
	}
	*d = duration(v)
	return nil
}

func durationError(value string) error {
	return &json.UnmarshalTypeError{Value: value, Type: reflect.TypeFor[time.Duration]()}
}

// jsonKind names the kind of a JSON value that is not a string.
func jsonKind(b []byte) string {
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// MarshalJSON implements [json.Marshaler].
func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// or returns d, or def if d is zero.
func (d duration) or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}
