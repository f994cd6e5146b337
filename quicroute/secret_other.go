//go:build !linux

package quicroute

import "os"

// newSecretFile keeps the secret in a temporary file removed at once, so
// only the open descriptors reach it.
func newSecretFile(secret []byte) (*os.File, error) {
	f, err := os.CreateTemp("", "quicroute-secret-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return writeSecret(f, secret)
}
