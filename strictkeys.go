package flipd

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// KeyError is a JSON object key that a config may not have: one that
// appears twice in the same object, or that differs only in case from
// the field it would set. encoding/json takes the last of two duplicates
// and matches keys case-insensitively, so {"drain_timeout": "1s",
// "Drain_Timeout": "1h"} would silently mean one hour: flipd refuses both.
type KeyError struct {
	// Path is the dotted path of the object holding the key ("" for the
	// top level, "upgrade", "listeners.web").
	Path string
	Key  string
	// Want is the spelling the field has, for a key that differs in case.
	Want string
}

func (e *KeyError) Error() string {
	field := joinPath(e.Path, e.Key)
	if e.Want != "" {
		return fmt.Sprintf("field %q: keys are case-sensitive: write %q", field, joinPath(e.Path, e.Want))
	}
	return fmt.Sprintf("field %q: duplicate key", field)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// checkKeys walks the JSON value raw, which encoding/json has already
// accepted (so it is well formed and nested at most 10,000 deep), and
// refuses duplicate keys anywhere, and keys that match a field of t only
// when case is ignored. extra names keys that belong to the caller at the
// top level ("module", "address"). Parts of t that decode themselves
// (json.Unmarshaler, json.RawMessage, any) are checked for duplicates
// only.
//
// It scans the bytes itself rather than through json.Decoder.Token: every
// module's config passes here at each reload, in the old generation and
// again in the new one, and Token (an interface value and a string per
// token, a path built for every value) made it most of a reload's
// decoding time.
func checkKeys(raw []byte, t reflect.Type, extra ...string) error {
	w := keyWalker{b: raw, extra: extra}
	return w.value(t, true)
}

// keyWalker scans well-formed JSON. path is the dotted path of the value
// being walked, built as it descends so that an error can name it.
type keyWalker struct {
	b     []byte
	i     int
	extra []string
	path  []byte
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// value walks one JSON value of Go type t (nil: unknown).
func (w *keyWalker) value(t reflect.Type, top bool) error {
	w.space()
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil // it decodes itself: check duplicates only
	}
	switch w.b[w.i] {
	case '{':
		return w.object(t, top)
	case '[':
		return w.array(t)
	case '"':
		w.skipString()
	default: // a number, true, false or null
		for w.i < len(w.b) && !isDelim(w.b[w.i]) {
			w.i++
		}
	}
	return nil
}

func (w *keyWalker) array(t reflect.Type) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	w.i++ // '['
	if w.space(); w.b[w.i] == ']' {
		w.i++
		return nil
	}
	base := len(w.path)
	for n := 0; ; n++ {
		w.path = strconv.AppendInt(append(w.path[:base], '['), int64(n), 10)
		w.path = append(w.path, ']')
		if err := w.value(elem, false); err != nil {
			return err
		}
		w.path = w.path[:base]
		if w.space(); w.b[w.i] == ']' {
			w.i++
			return nil
		}
		w.i++ // ','
	}
}

func (w *keyWalker) object(t reflect.Type, top bool) error {
	var fields map[string]reflect.Type // by exact JSON name; nil: any key
	var elem reflect.Type
	switch {
	case t != nil && t.Kind() == reflect.Struct:
		fields = cachedJSONFields(t)
	case t != nil && t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	extra := w.extra
	if !top || fields == nil {
		extra = nil
	}
	w.i++ // '{'
	if w.space(); w.b[w.i] == '}' {
		w.i++
		return nil
	}
	path := string(w.path)
	base := len(w.path)
	var seen keySet
	for {
		w.space()
		key := w.key()
		if seen.add(key) {
			return &KeyError{Path: path, Key: key}
		}
		vt := elem
		if fields != nil {
			ft, ok := fields[key]
			if slices.Contains(extra, key) {
				ft, ok = nil, true
			}
			if !ok {
				if want, found := foldMatch(fields, extra, key); found {
					return &KeyError{Path: path, Key: key, Want: want}
				}
			}
			vt = ft // an unknown key is the decoder's to refuse
		}
		if base > 0 {
			w.path = append(w.path, '.')
		}
		w.path = append(w.path, key...)
		w.space()
		w.i++ // ':'
		if err := w.value(vt, false); err != nil {
			return err
		}
		w.path = w.path[:base]
		if w.space(); w.b[w.i] == '}' {
			w.i++
			return nil
		}
		w.i++ // ','
	}
}

// foldMatch finds the field name (or caller's key) that key matches only
// when case is ignored.
func foldMatch(fields map[string]reflect.Type, extra []string, key string) (string, bool) {
	for _, name := range extra {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	for name := range fields {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}

// key reads an object key, unquoted as encoding/json unquotes it.
func (w *keyWalker) key() string {
	start := w.i
	plain := w.skipString()
	raw := w.b[start:w.i]
	if plain {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s) // well formed: cannot fail
	return s
}

// skipString moves past the string at w.i and reports whether it holds
// neither an escape nor a byte outside ASCII (which encoding/json would
// rewrite when unquoting).
func (w *keyWalker) skipString() (plain bool) {
	plain = true
	for w.i++; ; w.i++ {
		switch c := w.b[w.i]; {
		case c == '"':
			w.i++
			return plain
		case c == '\\':
			plain = false
			w.i++ // the escaped byte (\uXXXX: its hex digits are plain)
		case c >= 0x80:
			plain = false
		}
	}
}

func (w *keyWalker) space() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// keySet is the keys of one object seen so far: a short list, then a
// map once an object is large (so that a config of many keys costs no
// more than linear time).
type keySet struct {
	few  []string
	many map[string]bool
}

// add adds key and reports whether it was there already.
func (s *keySet) add(key string) bool {
	if s.many != nil {
		if s.many[key] {
			return true
		}
		s.many[key] = true
		return false
	}
	if slices.Contains(s.few, key) {
		return true
	}
	if len(s.few) < 16 {
		s.few = append(s.few, key)
		return false
	}
	s.many = make(map[string]bool, 2*len(s.few))
	for _, k := range s.few {
		s.many[k] = true
	}
	s.many[key] = true
	return false
}

var fieldsCache sync.Map // reflect.Type -> map[string]reflect.Type

// cachedJSONFields is jsonFields(t), computed once per type. The map is
// shared: callers must not change it.
func cachedJSONFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldsCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	f, _ := fieldsCache.LoadOrStore(t, jsonFields(t))
	return f.(map[string]reflect.Type)
}

// jsonFields maps the JSON names of t's fields, as encoding/json sees
// them (promoted fields of embedded structs included), to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				continue // its fields are visible on their own
			}
		}
		if !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if _, dup := out[tag]; !dup || len(f.Index) == 1 {
			out[tag] = f.Type
		}
	}
	return out
}
