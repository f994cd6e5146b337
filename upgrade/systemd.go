package upgrade

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// notifyReady tells systemd (when NOTIFY_SOCKET is set) that pid is the
// service's main process and that it is ready. It is sent by the new
// generation itself, which is why units need NotifyAccess=all.
func notifyReady(pid int) error {
	return sdNotify("MAINPID=" + strconv.Itoa(pid) + "\n" + daemon.SdNotifyReady)
}

// notifyReloading tells systemd that an upgrade has begun; READY=1 from
// the new generation (or from this one, if it fails) ends it.
func notifyReloading() {
	_ = sdNotify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
}

// inheritActivated adds the sockets of systemd socket activation
// (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) to inherited, keyed by the
// address each is bound to; descriptors that are not sockets are keyed by
// their LISTEN_FDNAMES name, for File. The variables are removed so that
// no child mistakes itself for the activated process.
func inheritActivated(inherited map[fdKey]int) error {
	for _, file := range activation.Files(true) {
		key, err := activatedKey(file)
		if err != nil {
			file.Close()
			return fmt.Errorf("upgrade: socket activation: %s: %w", file.Name(), err)
		}
		fd, err := dupConn(file)
		file.Close()
		if err != nil {
			return fmt.Errorf("upgrade: socket activation: %s: %w", file.Name(), err)
		}
		inherited[key] = fd
	}
	return nil
}

func activatedKey(file *os.File) (fdKey, error) {
	if ln, err := net.FileListener(file); err == nil {
		defer ln.Close()
		return fdKey{kindListener, ln.Addr().Network(), ln.Addr().String()}, nil
	}
	if pc, err := net.FilePacketConn(file); err == nil {
		defer pc.Close()
		return fdKey{kindPacket, pc.LocalAddr().Network(), pc.LocalAddr().String()}, nil
	}
	return fdKey{Kind: kindFile, Addr: file.Name()}, nil
}
