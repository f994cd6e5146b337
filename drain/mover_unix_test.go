//go:build unix

package drain_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// named answers as echo does, and says in the "Server-Name" header which
// server answered.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server-Name", name)
		echo.ServeHTTP(w, r)
	})
}

// fdMover moves connections as an upgrade does between processes: it
// passes each one's descriptor over a unix socket (SCM_RIGHTS) to a
// goroutine that makes a connection of it again and hands it to adopt.
type fdMover struct {
	send  *net.UnixConn
	moved atomic.Int64
	calls atomic.Int64

	mu     sync.Mutex
	before func(c net.Conn) // runs in move before the descriptor goes, if set
	fail   error            // what move returns instead of moving, if set
}

// A nil adopt makes every connection that arrives an error of the test.
func newFDMover(t *testing.T, adopt func(net.Conn) error) *fdMover {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	send, recv := unixConn(t, fds[0]), unixConn(t, fds[1])
	m := &fdMover{send: send}
	done := make(chan struct{})
	go func() {
		defer close(done)
		receive(t, recv, adopt)
	}()
	t.Cleanup(func() {
		send.Close()
		recv.Close()
		<-done
	})
	return m
}

func unixConn(t *testing.T, fd int) *net.UnixConn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn)
}

// receive adopts every connection that comes on recv, until it closes.
func receive(t *testing.T, recv *net.UnixConn, adopt func(net.Conn) error) {
	buf, oob := make([]byte, 16), make([]byte, syscall.CmsgSpace(4))
	for {
		_, oobn, _, _, err := recv.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		c, err := connFromRights(oob[:oobn])
		if err != nil {
			t.Errorf("receiving a moved connection: %v", err)
			continue
		}
		if adopt == nil {
			t.Errorf("a connection moved from %v, and none should", c.RemoteAddr())
			c.Close()
			continue
		}
		if err := adopt(c); err != nil {
			t.Errorf("adopting a moved connection: %v", err)
			c.Close()
		}
	}
}

func connFromRights(oob []byte) (net.Conn, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("%d control messages, want 1", len(msgs))
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, err
	}
	if len(fds) != 1 {
		return nil, fmt.Errorf("%d descriptors, want 1", len(fds))
	}
	f := os.NewFile(uintptr(fds[0]), "moved")
	defer f.Close()
	return net.FileConn(f)
}

// move is the mover for drain.Server.MoveIdle.
func (m *fdMover) move(c net.Conn) error {
	m.calls.Add(1)
	m.mu.Lock()
	before, fail := m.before, m.fail
	m.mu.Unlock()
	if fail != nil {
		return fail
	}
	if before != nil {
		before(c)
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return fmt.Errorf("a %T has no descriptor", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	if err := raw.Control(func(fd uintptr) {
		_, _, sendErr = m.send.WriteMsgUnix([]byte{'i'}, syscall.UnixRights(int(fd)), nil)
	}); err != nil {
		return err
	}
	if sendErr != nil {
		return sendErr
	}
	m.moved.Add(1)
	return c.Close() // the socket lives on in the receiver's copy
}

func (m *fdMover) setBefore(f func(net.Conn)) {
	m.mu.Lock()
	m.before = f
	m.mu.Unlock()
}

func (m *fdMover) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

var errRefused = errors.New("test: move refused")

// expectFrom checks that a response came from the server named name and
// echoed want.
func expectFrom(t *testing.T, what string, resp *http.Response, body, name, want string) {
	t.Helper()
	if got := resp.Header.Get("Server-Name"); got != name {
		t.Errorf("%s: answered by %q, want %q", what, got, name)
	}
	if resp.StatusCode != http.StatusOK || body != want {
		t.Errorf("%s: got %s %q, want 200 %q", what, resp.Status, body, want)
	}
}

// noRetryPost is a POST that net/http's Transport never retries: it has
// a body it cannot get again.
func noRetryPost(url, body string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, io.NopCloser(strings.NewReader(body)))
	if err != nil {
		panic(err)
	}
	req.GetBody = nil
	req.ContentLength = int64(len(body))
	return req
}

// request is the bytes of a keep-alive POST of body.
func request(t *testing.T, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://drain.test/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// read reads the answer to a POST written by hand.
func (c *rawConn) read(t *testing.T) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(c.r, &http.Request{Method: http.MethodPost})
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading a response body: %v", err)
	}
	return resp, string(got)
}
