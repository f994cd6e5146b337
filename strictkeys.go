package flipd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
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
func checkKeys(raw []byte, t reflect.Type, extra ...string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	w := keyWalker{dec: dec, extra: extra}
	return w.value("", t, true)
}

type keyWalker struct {
	dec   *json.Decoder
	extra []string
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// value walks one JSON value of Go type t (nil: unknown).
func (w *keyWalker) value(path string, t reflect.Type, top bool) error {
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

func (w *keyWalker) object(path string, t reflect.Type, top bool) error {
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
