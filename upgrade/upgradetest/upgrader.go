// Package upgradetest provides stubs with the method set of
// upgrade.Upgrader, for a program's own tests and for platforms where
// upgrades are not supported (Windows). It mirrors tableflip's "testing"
// package: nothing is inherited, Listen listens, Upgrade returns
// upgrade.ErrNotSupported.
//
// A program picks one at start-up:
//
//	upg, err := upgrade.New(upgrade.Options{})
//	if errors.Is(err, upgrade.ErrNotSupported) {
//		upg, err = upgradetest.New() // serve, just without upgrades
//	}
//
// (with a small interface of the methods the program uses, since the two
// are different types).
package upgradetest

import (
	"context"
	"io"
	"os"

	"github.com/flipd/flipd/upgrade"
)

// Upgrader has the methods of upgrade.Upgrader; none of them does
// anything special.
type Upgrader struct {
	*Fds
	exitC chan struct{}
}

// New creates a stub Upgrader. Unlike upgrade.New, it can be called many
// times.
func New() (*Upgrader, error) {
	return &Upgrader{Fds: &Fds{}}, nil
}

// Ready does nothing: there is no parent to tell.
func (u *Upgrader) Ready() error { return nil }

// Exit returns a channel that is never closed, since the stub never hands
// over.
func (u *Upgrader) Exit() <-chan struct{} { return u.exitC }

// Stop does nothing.
func (u *Upgrader) Stop() {}

// WaitForParent returns at once: the stub never has a parent.
func (u *Upgrader) WaitForParent(ctx context.Context) error { return nil }

// HasParent is always false.
func (u *Upgrader) HasParent() bool { return false }

// Upgrade returns upgrade.ErrNotSupported.
func (u *Upgrader) Upgrade() error { return upgrade.ErrNotSupported }

// UpgradeWith returns upgrade.ErrNotSupported.
func (u *Upgrader) UpgradeWith(payload []byte) error { return upgrade.ErrNotSupported }

// Fail does nothing: there is no parent to tell.
func (u *Upgrader) Fail(err error) error { return nil }

// Generation is always 1.
func (u *Upgrader) Generation() int { return 1 }

// Payload is always nil.
func (u *Upgrader) Payload() []byte { return nil }

// DrainingPids is always empty.
func (u *Upgrader) DrainingPids() []int { return nil }

// Elders is always empty.
func (u *Upgrader) Elders() []upgrade.Elder { return nil }

// OfferConns does nothing: the stub has no parent to move connections.
func (u *Upgrader) OfferConns(keys []string) error { return nil }

// AcceptConn returns io.EOF: no connection ever moves to the stub.
func (u *Upgrader) AcceptConn() (key string, state []byte, files []*os.File, err error) {
	return "", nil, nil, io.EOF
}

// StopAcceptingConns does nothing: nothing ever moves to the stub.
func (u *Upgrader) StopAcceptingConns() error { return nil }

// ConnSender returns a sender that accepts nothing (the stub never
// upgrades), so every connection drains.
func (u *Upgrader) ConnSender() *upgrade.ConnSender { return nil }
