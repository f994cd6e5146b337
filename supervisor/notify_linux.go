package supervisor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// notification is one datagram received on the notify socket, with the
// pid the kernel says sent it.
type notification struct {
	sender int
	fields []string // KEY=VALUE, in the order sent
}

// notifySocket is the supervisor's own NOTIFY_SOCKET: a unixgram socket in
// a private 0700 directory, with SO_PASSCRED so that every datagram
// carries its sender's credentials.
type notifySocket struct {
	dir  string
	path string
	conn *net.UnixConn
	buf  []byte
	oob  []byte
}

func listenNotify() (*notifySocket, error) {
	dir, err := os.MkdirTemp("", "flipd-supervisor-") // 0700
	if err != nil {
		return nil, fmt.Errorf("supervisor: notify socket directory: %w", err)
	}
	ns := &notifySocket{dir: dir, path: filepath.Join(dir, "notify.sock"),
		buf: make([]byte, 64<<10), oob: make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*64))}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns.path, Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("supervisor: notify socket: %w", err)
	}
	ns.conn = conn
	if err := setPassCred(conn); err != nil {
		ns.close()
		return nil, fmt.Errorf("supervisor: notify socket %s: SO_PASSCRED: %w", ns.path, err)
	}
	return ns, nil
}

func setPassCred(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	return serr
}

func (ns *notifySocket) close() {
	ns.conn.Close()
	os.RemoveAll(ns.dir)
}

// waitReadable sends on wake whenever a datagram waits on the socket,
// and then waits for the loop to have drained it (on drained), until the
// socket is closed or done is closed. It never reads a datagram itself:
// the loop reads them all before it acts on a signal or an exit, so that
// a generation's MAINPID= queued before its parent exited is never acted
// on after that exit.
func (ns *notifySocket) waitReadable(wake chan<- struct{}, drained <-chan struct{}, done <-chan struct{}) {
	raw, err := ns.conn.SyscallConn()
	if err != nil {
		return
	}
	var peek [1]byte
	for {
		err := raw.Read(func(fd uintptr) bool {
			_, _, err := unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			return err != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		select {
		case wake <- struct{}{}:
		case <-done:
			return
		}
		select {
		case <-drained:
		case <-done:
			return
		}
	}
}

// drain reads every datagram waiting on the socket, without blocking.
// Descriptors passed along (FDSTORE=1) are closed: the supervisor keeps
// none.
func (ns *notifySocket) drain(log hclog.Logger) []notification {
	raw, err := ns.conn.SyscallConn()
	if err != nil {
		return nil
	}
	var out []notification
	raw.Control(func(fd uintptr) {
		for range 1024 { // bounded: the loop comes back for more
			n, oobn, _, _, err := unix.Recvmsg(int(fd), ns.buf, ns.oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				if err != unix.EAGAIN {
					log.Warn("reading the notify socket", "error", err)
				}
				return
			}
			sender, ok := parseCredentials(ns.oob[:oobn])
			if !ok {
				log.Warn("notification without credentials dropped", "message", string(ns.buf[:n]))
				continue
			}
			out = append(out, notification{sender: sender, fields: splitFields(string(ns.buf[:n]))})
		}
	})
	return out
}

// parseCredentials returns the sender pid of SCM_CREDENTIALS and closes
// any descriptor of SCM_RIGHTS.
func parseCredentials(oob []byte) (int, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	pid, ok := 0, false
	for i := range msgs {
		if fds, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			continue
		}
		if cred, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
			pid, ok = int(cred.Pid), cred.Pid > 0
		}
	}
	return pid, ok
}

func splitFields(msg string) []string {
	var fields []string
	for _, line := range strings.Split(msg, "\n") {
		if line != "" {
			fields = append(fields, line)
		}
	}
	return fields
}

// passedOn are the fields the supervisor passes to its own NOTIFY_SOCKET
// as they are; MAINPID is replaced by its own pid, and the rest (FDSTORE,
// BARRIER, ...) concern the generation, not the service.
var passedOn = map[string]bool{
	"READY": true, "RELOADING": true, "STOPPING": true, "STATUS": true,
	"MONOTONIC_USEC": true, "ERRNO": true, "WATCHDOG": true, "EXTEND_TIMEOUT_USEC": true,
}

// childEnv is env with NOTIFY_SOCKET naming path and PIDEnv naming pid.
func childEnv(env []string, path string, pid int) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, PIDEnv+"=") {
			out = append(out, kv)
		}
	}
	return append(out, "NOTIFY_SOCKET="+path, PIDEnv+"="+strconv.Itoa(pid))
}
