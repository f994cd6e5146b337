package flipdtest

import (
	"bytes"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/flipd/flipd"
)

// MoveSink is a [flipd.ConnSink] for testing a [flipd.ConnMover] in one
// process: it passes each moved connection's descriptors, with its state,
// over a unix socket (SCM_RIGHTS), as the runtime does between
// generations, and has adopt (typically the next server's AdoptConn) take
// what arrives. Give it to the old server's MoveConns.
type MoveSink struct {
	t     testing.TB
	send  *net.UnixConn
	moved atomic.Int64
	// OnMove, if set before the first Move, sees each MovedConn once its
	// descriptors are on their way, before they are closed here.
	OnMove func(flipd.MovedConn)
}

// NewMoveSink returns a sink whose connections adopt takes, from a
// goroutine of its own; an error from adopt fails the test and closes
// the connections. Everything is closed when the test ends.
func NewMoveSink(t testing.TB, adopt func(flipd.MovedConn) error) *MoveSink {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	send, recv := unixConn(t, fds[0]), unixConn(t, fds[1])
	s := &MoveSink{t: t, send: send}
	var done sync.WaitGroup
	done.Go(func() { receiveMoved(t, recv, adopt) })
	t.Cleanup(func() {
		send.Close()
		recv.Close()
		done.Wait()
	})
	return s
}

// Move implements [flipd.ConnSink]: on success the connections are
// closed here, as the runtime's sink does.
func (s *MoveSink) Move(mc flipd.MovedConn) error {
	var fds []int
	for _, c := range mc.Conns {
		sc, ok := c.(syscall.Conn)
		if !ok {
			return syscall.EINVAL
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return err
		}
		rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
	}
	if _, _, err := s.send.WriteMsgUnix(mc.State, syscall.UnixRights(fds...), nil); err != nil {
		return err
	}
	if s.OnMove != nil {
		s.OnMove(mc)
	}
	s.moved.Add(1)
	for _, c := range mc.Conns {
		c.Close()
	}
	return nil
}

// Moved reports how many Moves succeeded.
func (s *MoveSink) Moved() int64 { return s.moved.Load() }

func unixConn(t testing.TB, fd int) *net.UnixConn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "move-sink")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn)
}

// receiveMoved has adopt take each connection that comes on uc, until uc
// is closed.
func receiveMoved(t testing.TB, uc *net.UnixConn, adopt func(flipd.MovedConn) error) {
	buf, oob := make([]byte, flipd.MaxMovedState), make([]byte, syscall.CmsgSpace(8*4))
	for {
		n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		conns, err := connsFromRights(oob[:oobn])
		if err != nil {
			t.Errorf("receiving a moved connection: %v", err)
			continue
		}
		if err := adopt(flipd.MovedConn{Conns: conns, State: bytes.Clone(buf[:n])}); err != nil {
			t.Errorf("adopting a moved connection: %v", err)
			for _, c := range conns {
				c.Close()
			}
		}
	}
}

func connsFromRights(oob []byte) ([]net.Conn, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var conns []net.Conn
	for i := range msgs {
		fds, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			return nil, err
		}
		for _, fd := range fds {
			f := os.NewFile(uintptr(fd), "moved")
			c, err := net.FileConn(f)
			f.Close()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return nil, err
			}
			conns = append(conns, c)
		}
	}
	return conns, nil
}
