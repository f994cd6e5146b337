package flipd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The byte scanner that checks keys refuses exactly what the walk over
// json.Decoder.Token it replaced refused, with the same error.
func TestCheckKeysAgreesWithATokenWalk(t *testing.T) {
	for _, raw := range strictKeyCorpus {
		for _, typ := range strictKeyTypes {
			compareCheckKeys(t, []byte(raw), typ)
		}
	}
}

func FuzzCheckKeysAgreesWithATokenWalk(f *testing.F) {
	for _, raw := range strictKeyCorpus {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		b := bytes.TrimSpace([]byte(raw))
		if !json.Valid(b) {
			return
		}
		for _, typ := range strictKeyTypes {
			compareCheckKeys(t, b, typ)
		}
	})
}

func compareCheckKeys(t *testing.T, raw []byte, typ reflect.Type) {
	t.Helper()
	extra := []string{"module", "address"}
	got, want := checkKeys(raw, typ, extra...), tokenCheckKeys(raw, typ, extra...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("checkKeys(%s, %v) = %v, the token walk says %v", raw, typ, got, want)
	}
}

type strictInner struct {
	Greeting string            `json:"greeting"`
	Tags     map[string]string `json:"tags"`
	Timeout  Duration          `json:"timeout"`
}

type strictEmbedded struct {
	Level string `json:"level"`
}

type strictOuter struct {
	strictEmbedded
	Name     string                     `json:"name"`
	Inner    *strictInner               `json:"inner"`
	List     []strictInner              `json:"list"`
	ByName   map[string]strictInner     `json:"by_name"`
	Raw      json.RawMessage            `json:"raw"`
	Any      any                        `json:"any"`
	Rawmap   map[string]json.RawMessage `json:"rawmap"`
	Wait     time.Duration              `json:"wait"`
	Untagged int
	Skipped  int `json:"-"`
}

var strictKeyTypes = []reflect.Type{
	reflect.TypeFor[*strictOuter](), reflect.TypeFor[strictInner](), reflect.TypeFor[map[string]any](),
	reflect.TypeFor[[]strictOuter](), reflect.TypeFor[any](), nil,
}

var strictKeyCorpus = []string{
	`{}`, `[]`, `null`, `"x"`, `1.5e3`, `true`, `[1, "a", null, {}, []]`,
	`{"name": "a", "inner": {"greeting": "hi", "tags": {"a": "b", "A": "c"}}}`,
	`{"name": "a", "name": "b"}`,
	`{"Name": "a"}`,
	`{"Module": "x"}`, `{"module": "x", "address": "y"}`, `{"module": "x", "module": "y"}`,
	`{"inner": {"Greeting": "x"}}`,
	`{"inner": {"greeting": "x", "greeting": "y"}}`,
	`{"list": [{"greeting": "a"}, {"GREETING": "b"}]}`,
	`{"list": [{"greeting": "a"}, {"tags": {"k": 1, "k": 2}}]}`,
	`{"by_name": {"x": {"Tags": {}}}}`,
	`{"by_name": {"x": {}, "x": {}}}`,
	`{"raw": {"Anything": 1, "anything": 2}}`,
	`{"raw": {"a": 1, "a": 2}}`,
	`{"any": {"Name": {"b": [1, {"c": 1, "c": 2}]}}}`,
	`{"rawmap": {"k": {"Q": 1, "q": 1}}}`,
	`{"level": "x", "Level": "y"}`,
	`{"LEVEL": "x"}`,
	`{"untagged": 1}`, `{"Untagged": 1, "Untagged": 2}`, `{"skipped": 1, "Skipped": 2}`, `{"-": 1}`,
	`{"unknown": {"x": 1, "x": 2}}`, `{"unknown": 1, "Unknown": 2}`,
	`{"n\u0061me": "a", "name": "b"}`, `{"N\u0061me": "a"}`, `{"na\"me": 1, "na\"me": 2}`,
	`{"ünïcode": 1, "ünïcode": 2}`, `{"\ud800": 1, "\ufffd": 2}`, "{\"\xff\": 1, \"\xfe\": 2}",
	` { "name" : "a" , "inner" : { "greeting" : "b" } , "list" : [ { } , { "greeting" : "c" , "greeting" : "d" } ] } `,
	`{"a.b": {"c": 1, "c": 2}}`,
	`[{"x": 1}, [{"y": 1, "y": 2}]]`,
	`{"wait": 5, "timeout": "1s", "inner": {"timeout": {"x": 1, "x": 1}}}`,
	`{"list": [], "by_name": {}, "inner": null, "any": [], "raw": "s"}`,
	`{"k00":0,"k01":0,"k02":0,"k03":0,"k04":0,"k05":0,"k06":0,"k07":0,"k08":0,"k09":0,"k10":0,"k11":0,"k12":0,"k13":0,"k14":0,"k15":0,"k16":0,"k17":0,"k18":0,"k05":1}`,
	`{"k00":0,"k01":0,"k02":0,"k03":0,"k04":0,"k05":0,"k06":0,"k07":0,"k08":0,"k09":0,"k10":0,"k11":0,"k12":0,"k13":0,"k14":0,"k15":0,"k16":0,"k17":0,"k18":0,"k18":1}`,
	strings.Repeat(`[`, 50) + `{"a": 1, "a": 2}` + strings.Repeat(`]`, 50),
}

// tokenCheckKeys is checkKeys as it was, walking json.Decoder.Token: the
// reference the scanner is held to.
func tokenCheckKeys(raw []byte, t reflect.Type, extra ...string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	w := tokenKeyWalker{dec: dec, extra: extra}
	return w.value("", t, true)
}

type tokenKeyWalker struct {
	dec   *json.Decoder
	extra []string
}

// value walks one JSON value of Go type t (nil: unknown).
func (w *tokenKeyWalker) value(path string, t reflect.Type, top bool) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil // it decodes itself: check duplicates only
	}
	switch tok {
	case json.Delim('{'):
		return w.object(path, t, top)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(fmt.Sprintf("%s[%d]", path, i), elem, false); err != nil {
				return err
			}
		}
		_, err := w.dec.Token() // ']'
		return err
	}
	return nil
}

func (w *tokenKeyWalker) object(path string, t reflect.Type, top bool) error {
	var fields map[string]reflect.Type // by exact JSON name; nil: any key
	var elem reflect.Type
	switch {
	case t != nil && t.Kind() == reflect.Struct:
		fields = jsonFields(t)
		if top {
			for _, k := range w.extra {
				fields[k] = nil
			}
		}
	case t != nil && t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if seen[key] {
			return &KeyError{Path: path, Key: key}
		}
		seen[key] = true
		vt := elem
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, key) {
						return &KeyError{Path: path, Key: key, Want: name}
					}
				}
			}
			vt = ft // an unknown key is the decoder's to refuse
		}
		if err := w.value(joinPath(path, key), vt, false); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // '}'
	return err
}

// Leaving out the caller's keys by cutting the bytes gives what decoding
// into a map, deleting them and encoding the map again gave.
func TestWithoutKeysAgreesWithAMapRoundTrip(t *testing.T) {
	for _, raw := range strictKeyCorpus {
		compareWithoutKeys(t, []byte(raw))
	}
}

func FuzzWithoutKeysAgreesWithAMapRoundTrip(f *testing.F) {
	for _, raw := range strictKeyCorpus {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) { compareWithoutKeys(t, bytes.TrimSpace([]byte(raw))) })
}

func compareWithoutKeys(t *testing.T, raw []byte) {
	t.Helper()
	if !json.Valid(raw) || raw[0] != '{' || checkKeys(raw, nil) != nil {
		return // DecodeStrict cuts only valid objects without duplicate keys
	}
	omit := []string{"module", "name", "n\\u0061me2"}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range omit {
		delete(fields, k)
	}
	want, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	got := withoutKeys(raw, omit)
	var gotC, wantC bytes.Buffer
	if err := json.Compact(&gotC, got); err != nil {
		t.Fatalf("withoutKeys(%s) = %s, not JSON: %v", raw, got, err)
	}
	json.Compact(&wantC, want)
	// encoding/json escapes <, > and & when it encodes: compare what
	// each decodes to, member by member, in order.
	if normalize(t, gotC.Bytes()) != normalize(t, wantC.Bytes()) {
		t.Fatalf("withoutKeys(%s) = %s, want %s", raw, got, want)
	}
}

// normalize lists an object's keys and values in order, as decoded.
func normalize(t *testing.T, obj []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	var out strings.Builder
	dec.Token() // '{'
	for dec.More() {
		k, _ := dec.Token()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%q=%#v;", k, v)
	}
	return out.String()
}
