package quicroute

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
)

const secretLen = 32

// loadSecret returns the secret every generation of this socket shares:
// the one the parent passed (a file holding it, read with pread so that
// every generation reads it from the start), or a new one that the next
// generation inherits. The connection ID cipher, the stateless reset key
// and the token key are derived from it, so a new generation reads the
// older ones' connection IDs and never resets their connections.
func loadSecret(upg Upgrader, name string) ([]byte, error) {
	f, err := upg.File(name)
	if err != nil {
		return nil, fmt.Errorf("quicroute: inheriting the secret: %w", err)
	}
	if f != nil {
		defer f.Close()
		secret := make([]byte, secretLen)
		if _, err := f.ReadAt(secret, 0); err != nil {
			return nil, fmt.Errorf("quicroute: reading the inherited secret: %w", err)
		}
		return secret, nil
	}
	secret := make([]byte, secretLen)
	if _, err := io.ReadFull(rand.Reader, secret); err != nil {
		return nil, fmt.Errorf("quicroute: making a secret: %w", err)
	}
	f, err = newSecretFile(secret)
	if err != nil {
		return nil, fmt.Errorf("quicroute: storing the secret for the next generation: %w", err)
	}
	defer f.Close()
	if err := upg.AddFile(name, f); err != nil {
		return nil, fmt.Errorf("quicroute: passing on the secret: %w", err)
	}
	return secret, nil
}

func writeSecret(f *os.File, secret []byte) (*os.File, error) {
	if _, err := f.WriteAt(secret, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
