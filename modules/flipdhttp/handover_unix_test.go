//go:build unix

package flipdhttp

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flipd/flipd"
)

// idleSink is a flipd.ConnSink that moves connections as the upgrade
// handshake does between processes: each one's descriptor and state go
// over a unix socket (SCM_RIGHTS), and the receiving end has the next
// server adopt them.
type idleSink struct {
	send  *net.UnixConn
	moved atomic.Int64
}

func newIdleSink(t *testing.T, next flipd.ConnMover) *idleSink {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	send, recv := fileUnixConn(t, fds[0]), fileUnixConn(t, fds[1])
	s := &idleSink{send: send}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf, oob := make([]byte, flipd.MaxMovedState), make([]byte, syscall.CmsgSpace(4))
		for {
			n, oobn, _, _, err := recv.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			c, err := connFromRights(oob[:oobn])
			if err != nil {
				t.Errorf("receiving a moved connection: %v", err)
				continue
			}
			state := append([]byte(nil), buf[:n]...)
			if err := next.AdoptConn(flipd.MovedConn{Conns: []net.Conn{c}, State: state}); err != nil {
				t.Errorf("adopting a moved connection: %v", err)
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		send.Close()
		recv.Close()
		<-done
	})
	return s
}

func fileUnixConn(t *testing.T, fd int) *net.UnixConn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn)
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
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("%d descriptors (%v), want 1", len(fds), err)
	}
	f := os.NewFile(uintptr(fds[0]), "moved")
	defer f.Close()
	return net.FileConn(f)
}

// Move implements flipd.ConnSink.
func (s *idleSink) Move(mc flipd.MovedConn) error {
	if len(mc.Conns) != 1 {
		return fmt.Errorf("test sink moves one connection at a time, got %d", len(mc.Conns))
	}
	raw, err := mc.Conns[0].(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	if err := raw.Control(func(fd uintptr) {
		_, _, sendErr = s.send.WriteMsgUnix(mc.State, syscall.UnixRights(int(fd)), nil)
	}); err != nil {
		return err
	}
	if sendErr != nil {
		return sendErr
	}
	s.moved.Add(1)
	return mc.Conns[0].Close()
}

// generation is an http server serving on its copy of a shared socket.
func generation(t *testing.T, ln net.Listener, name string) *testServer {
	t.Helper()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	own, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	logger, logs := newTestLogger(t)
	srv, err := load(t, logger, `{"module": "http", "drain_idle_grace": "1ms", "routes": [
		{"handle": {"module": "static_response", "body": "ok", "headers": {"Generation": ["`+name+`"]}}}
	]}`)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, addr: ln.Addr().String(), logs: logs, served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(own) }()
	t.Cleanup(func() {
		if !ts.drained {
			ts.drainAndWait(t)
		}
	})
	return ts
}

// Keep-alive clients that POST in a loop (POSTs are not retried) lose
// nothing across handovers with a tight drain_idle_grace: the old
// generation's idle connections move to the new one, which answers every
// request sent after the old one drained. (Without MoveConns the drain
// closes connections as clients reuse them, and POSTs fail.)
func TestIdleKeepAliveConnectionsMoveToTheNewGeneration(t *testing.T) {
	const (
		clients       = 8
		handovers     = 8
		perGeneration = 150
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cur := generation(t, ln, "gen0")

	var (
		count, late atomic.Int64
		mu          sync.Mutex
		gone        = map[string]bool{}
		failed      []error
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: testTimeout}
	for i := range clients {
		wg.Go(func() {
			for seq := 0; seq < 1_000_000 && ctx.Err() == nil; seq++ {
				mu.Lock()
				before := make(map[string]bool, len(gone))
				for k := range gone {
					before[k] = true
				}
				mu.Unlock()
				gen, err := postOnce(client, "http://"+ln.Addr().String()+"/", fmt.Sprintf("client %d post %d", i, seq))
				count.Add(1)
				if err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				} else if before[gen] {
					late.Add(1)
				}
				time.Sleep(time.Duration(rand.N(2500)) * time.Microsecond)
			}
		})
	}
	stop := sync.OnceFunc(func() { cancel(); wg.Wait() })
	defer stop()

	var moved int64
	for i := 1; i <= handovers; i++ {
		from := count.Load()
		waitFor(t, "requests to the current generation", func() bool { return count.Load() >= from+perGeneration })
		next := generation(t, ln, fmt.Sprintf("gen%d", i))
		sink := newIdleSink(t, next.Server)
		cur.MoveConns(sink)
		cur.drainAndWait(t)
		mu.Lock()
		gone[fmt.Sprintf("gen%d", i-1)] = true
		mu.Unlock()
		moved += sink.moved.Load()
		cur = next
	}
	from := count.Load()
	waitFor(t, "requests to the last generation", func() bool { return count.Load() >= from+perGeneration })
	stop()

	t.Logf("%d POSTs, %d connections moved in %d handovers", count.Load(), moved, handovers)
	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("%d of %d POSTs failed; first: %v", len(failed), count.Load(), failed[0])
	}
	if n := late.Load(); n > 0 {
		t.Errorf("%d POSTs sent after their generation had drained were answered by it", n)
	}
	if moved == 0 {
		t.Error("no connection moved")
	}
}

// postOnce sends a POST that Go's Transport does not retry (its body
// cannot be had again) and says which generation answered.
func postOnce(c *http.Client, url, body string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, url, io.NopCloser(strings.NewReader(body)))
	if err != nil {
		return "", err
	}
	req.ContentLength = int64(len(body))
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK || string(got) != "ok" {
		return "", fmt.Errorf("got %s %q", resp.Status, got)
	}
	return resp.Header.Get("Generation"), nil
}
