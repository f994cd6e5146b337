package engine

import (
	"errors"
	"syscall"
)

var errSocketOptions = errors.New("socket options (backlog, reuse_port, recv_buffer, send_buffer) are not supported on Windows")

func (o SocketOptions) control(_, _ string, _ syscall.RawConn) error {
	if o.set() {
		return errSocketOptions
	}
	return nil
}

func (o SocketOptions) listen(syscall.RawConn) error { return nil }

func (o SocketOptions) applyInPlace(syscall.RawConn, bool) error {
	if o.set() {
		return errSocketOptions
	}
	return nil
}

type socketState struct {
	ReusePort              bool
	RecvBuffer, SendBuffer int
}

func readSocket(syscall.RawConn) (socketState, error) { return socketState{}, errSocketOptions }

const kernelDoubles = false
