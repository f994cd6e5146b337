package flipd

import (
	"slices"
	"strings"
)

// withoutKeys is the JSON object raw (well formed, as json.Valid says)
// without its top-level members named in omit, and with the others in
// the order of their keys: what DecodeStrict used to get from decoding
// raw into a map, deleting omit and encoding the map again (which sorts
// the keys), so that of several errors the decoder reports the same one.
// Cutting the bytes instead saves a decode and an encode of every
// module's config, twice a reload.
func withoutKeys(raw []byte, omit []string) []byte {
	type member struct {
		key  string
		text []byte // "key": value
	}
	var members []member
	w := keyWalker{b: raw}
	w.i++ // '{'
	for {
		if w.space(); w.b[w.i] == '}' {
			break
		}
		start := w.i
		key := w.key()
		w.space()
		w.i++ // ':'
		w.space()
		w.skipValue()
		if !slices.Contains(omit, key) {
			members = append(members, member{key, raw[start:w.i]})
		}
		if w.space(); w.b[w.i] == ',' {
			w.i++
		}
	}
	slices.SortStableFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out := make([]byte, 0, len(raw))
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, m.text...)
	}
	return append(out, '}')
}

// skipValue moves past the well-formed value at w.i.
func (w *keyWalker) skipValue() {
	depth := 0
	for {
		switch c := w.b[w.i]; c {
		case '"':
			w.skipString()
		case '{', '[':
			depth++
			w.i++
		case '}', ']':
			depth--
			w.i++
		default: // a number, a literal, or what separates values
			if depth == 0 {
				for w.i < len(w.b) && !isDelim(w.b[w.i]) {
					w.i++
				}
				return
			}
			w.i++
		}
		if depth == 0 {
			return
		}
	}
}
