//go:build !linux

package upgrade

import "github.com/coreos/go-systemd/v22/daemon"

// sdNotify sends state to the service manager's notification socket
// (NOTIFY_SOCKET), if there is one.
func sdNotify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}
