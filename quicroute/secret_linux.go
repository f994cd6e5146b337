package quicroute

import (
	"os"

	"golang.org/x/sys/unix"
)

// newSecretFile keeps the secret in memory only (memfd), never on disk.
func newSecretFile(secret []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("quicroute-secret", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	return writeSecret(os.NewFile(uintptr(fd), "quicroute-secret"), secret)
}
