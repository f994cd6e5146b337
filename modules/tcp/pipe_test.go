package tcp

import (
	"bytes"
	"testing"
)

func TestAMovedPipesStateDecodesToWhatWasEncoded(t *testing.T) {
	b := encodePipeState(&flow{pending: []byte("to upstream"), done: false}, &flow{pending: nil, done: true})
	c2u, u2c, c2uDone, u2cDone, err := decodePipeState(b)
	if err != nil || !bytes.Equal(c2u, []byte("to upstream")) || len(u2c) != 0 || c2uDone || !u2cDone {
		t.Fatalf("%q %q %v %v %v", c2u, u2c, c2uDone, u2cDone, err)
	}
	for _, bad := range [][]byte{nil, {9, 0}, b[:len(b)-1], append(b, 0)} {
		if _, _, _, _, err := decodePipeState(bad); err == nil {
			t.Errorf("%q decodes", bad)
		}
	}
}
