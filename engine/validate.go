package engine

import (
	"context"

	"github.com/hashicorp/go-hclog"
)

// Validate loads raw as a reload would, provisioning every module without
// opening a socket, and discards it. A nil error means a reload with it
// gets as far as starting the new generation.
func Validate(raw []byte) error {
	l, err := loadConfig(context.Background(), raw, hclog.NewNullLogger(), 0, nil)
	if err != nil {
		return err
	}
	return l.cleanup()
}
