package engine

import (
	"context"
	"os"

	"github.com/flipd/flipd/upgrade"
)

// upgrader is what an Instance uses of *upgrade.Upgrader, which is the
// one that runs: named here so that the instance's state machine (start,
// reload, stop, drain) has tests of its own with a fake upgrader, fast
// and without a second process.
type upgrader interface {
	sockets
	// HasParent, Generation and Payload say where this generation came
	// from and what the one it replaces passed on.
	HasParent() bool
	Generation() int
	Payload() []byte
	// Ready reports that this generation serves; Fail tells the parent
	// why it cannot.
	Ready() error
	Fail(err error) error
	// Verified returns once the previous generation has verified the
	// upgrade that started this one (upgrade.UpgradeOptions.Verify); an
	// error means it must not serve.
	Verified() error
	// UpgradeWithOptions starts the next generation and returns once it
	// serves.
	UpgradeWithOptions(opts upgrade.UpgradeOptions) (upgrade.Child, error)
	// Stop ends this generation: Exit closes, now or once an upgrade in
	// flight returns. Exit also closes after a handover.
	Stop()
	Exit() <-chan struct{}
	// WaitForParent returns once the parent has exited; Elders lists the
	// older generations still draining.
	WaitForParent(ctx context.Context) error
	Elders() []upgrade.Elder
	// OfferConns, AcceptConn, StopAcceptingConns and ConnSender move
	// established connections between generations (see connmove.go).
	OfferConns(keys []string) error
	AcceptConn() (key string, state []byte, files []*os.File, err error)
	StopAcceptingConns() error
	ConnSender() *upgrade.ConnSender
	// EnableStandby switches the standby generation on or off; Standby
	// describes it.
	EnableStandby(on bool)
	Standby() upgrade.StandbyInfo
}

var _ upgrader = (*upgrade.Upgrader)(nil)
