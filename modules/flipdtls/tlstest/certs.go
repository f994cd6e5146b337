package tlstest

import (
	"testing"

	"github.com/flipd/flipd/internal/testca"
)

// CA is a certificate authority made for a test (see internal/testca,
// which makes it): its Cert, Key, PEM and File, and Pool.
type CA struct{ *testca.CA }

// NewCA makes a CA whose certificate is written to a file in dir.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	ca, err := testca.New(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{ca}
}

// LeafOptions describe a certificate that a CA issues.
type LeafOptions = testca.LeafOptions

// Leaf is an issued certificate and its files.
type Leaf = testca.Leaf

// Issue issues a certificate and writes it to dir as base.crt and
// base.key.
func (ca *CA) Issue(t testing.TB, dir, base string, opts LeafOptions) Leaf {
	t.Helper()
	l, err := ca.CA.Issue(dir, base, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
