package bench

import "github.com/flipd/flipd/internal/testca"

// certFiles is a certificate for 127.0.0.1 and the CA that issued it.
type certFiles struct {
	Cert, Key string // file paths
	PEM       string // the CA's certificate, for the clients' root pool
}

// writeCert makes a CA and a certificate for 127.0.0.1, and writes them
// to dir.
func writeCert(dir string) (certFiles, error) {
	ca, leaf, err := testca.Loopback(dir)
	if err != nil {
		return certFiles{}, err
	}
	return certFiles{Cert: leaf.CertFile, Key: leaf.KeyFile, PEM: string(ca.PEM)}, nil
}
