//go:build linux

package upgrade

// The helper process: the test binary re-executes itself as a small server
// built on this package, so that upgrade tests start real processes, pass
// real sockets and talk to them with real clients.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const envHelper = "FLIPD_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) != "" {
		os.Exit(helperMain())
	}
	becomeSubreaper() // orphaned generations come back to us to be reaped
	os.Exit(m.Run())
}

// helperInfo is what the helper answers to "info".
type helperInfo struct {
	Generation int      `json:"generation"`
	Pid        int      `json:"pid"`
	HasParent  bool     `json:"has_parent"`
	Payload    string   `json:"payload"`
	Fds        int      `json:"fds"`
	Goroutines int      `json:"goroutines"`
	Draining   []int    `json:"draining"`
	ExeIno     uint64   `json:"exe_ino"`
	Inherited  []string `json:"inherited"`
}

// helperResult is what the helper answers to "upgrade".
type helperResult struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Reason   string `json:"reason"`
	Message  string `json:"message"`
	Pid      int    `json:"pid"`
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal"`
	Draining []int  `json:"draining"`
	// Took is how long the Upgrade call took in the old generation.
	Took time.Duration `json:"took"`
	// Prepared is the pid of the new generation that had its payload,
	// and waited for its verdict, while Verify ran (upgrade-verify).
	Prepared int `json:"prepared"`
	// Verified says Verify was called.
	Verified bool `json:"verified"`
}

// helperMode reads what this generation should do from the file named by
// HELPER_MODE_FILE, so a test can change it between upgrades:
// "report", "exit", "kill", "hang", "ready-exit", "skip-extra", or "".
func helperMode() string {
	b, _ := os.ReadFile(os.Getenv("HELPER_MODE_FILE"))
	return strings.TrimSpace(string(b))
}

func helperMain() int {
	t0 := time.Now()
	mode := helperMode()
	timeout, _ := time.ParseDuration(os.Getenv("HELPER_TIMEOUT"))
	if d, err := time.ParseDuration(os.Getenv("HELPER_HANDSHAKE_TIMEOUT")); err == nil {
		handshakeTimeout = d
	}
	maxDraining, _ := strconv.Atoi(os.Getenv("HELPER_MAX_DRAINING"))
	refuseStandby = os.Getenv("HELPER_NO_STANDBY_SUPPORT") != ""
	if mode == "old-child" { // a build from before the connection channel
		ignoreConnsChannel = true
	}
	upg, err := New(Options{UpgradeTimeout: timeout, PIDFile: os.Getenv("HELPER_PIDFILE"), MaxDraining: maxDraining,
		Standby: os.Getenv("HELPER_STANDBY") != ""})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	gen := upg.Generation()
	tNew := time.Since(t0)
	moving := os.Getenv("HELPER_MOVE") != "" && mode != "old-child"
	if moving {
		if err := upg.OfferConns([]string{"conv"}); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
	}
	if dir := os.Getenv("HELPER_PREPARED_DIR"); dir != "" && upg.HasParent() {
		// What a program prepares before it serves, beside its parent's
		// Verify; then it waits for the verdict.
		name := filepath.Join(dir, fmt.Sprintf("prepared-%d", os.Getpid()))
		if err := os.WriteFile(name+".tmp", []byte(upg.Payload()), 0o644); err == nil {
			os.Rename(name+".tmp", name)
		}
		if err := upg.Verified(); err != nil {
			fmt.Printf("NOT-VERIFIED %d %d\n", gen, os.Getpid())
			upg.Stop()
			<-upg.Exit()
			return 1
		}
	}
	switch mode {
	case "report":
		upg.Fail(fmt.Errorf("helper: generation %d refuses to serve", gen))
		return 1
	case "report-long":
		upg.Fail(fmt.Errorf("helper: %s", strings.Repeat("x", 60<<10)))
		return 1
	case "exit":
		return 3
	case "kill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	case "hang":
		fmt.Printf("HANGING %d %d\n", gen, os.Getpid())
		time.Sleep(time.Hour)
	}

	var inherited []string
	listen := func(network, addr string) net.Listener {
		if ln, _ := upg.Listener(network, addr); ln != nil {
			inherited = append(inherited, network+":"+addr)
			return ln
		}
		ln, err := upg.Listen(network, addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		return ln
	}
	h := &helper{upg: upg}
	lns := []net.Listener{listen("tcp", os.Getenv("HELPER_ADDR"))}
	if path := os.Getenv("HELPER_UNIX"); path != "" {
		lns = append(lns, listen("unix", path))
	}
	if b, _ := os.ReadFile(os.Getenv("HELPER_UNIX_FILE")); len(b) > 0 { // a path this generation may add
		lns = append(lns, listen("unix", strings.TrimSpace(string(b))))
	}
	if addr := os.Getenv("HELPER_EXTRA_ADDR"); addr != "" && mode != "skip-extra" {
		lns = append(lns, listen("tcp", addr))
	}
	var held []net.Listener // listened on and handed over, never served
	if path := os.Getenv("HELPER_ADDRS_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		for _, addr := range strings.Fields(string(b)) {
			held = append(held, listen("tcp", addr))
		}
	}
	if addr := os.Getenv("HELPER_UDP"); addr != "" {
		pc, err := upg.ListenPacket("udp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		go h.serveUDP(pc)
		defer pc.Close()
	}
	if mode == "listen-then-kill" { // a crash after the sockets were made
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	if mode == "listen-then-fail" { // as the runtime does when a module fails
		upg.Fail(fmt.Errorf("helper: generation %d refuses after listening", gen))
		upg.Stop()
		<-upg.Exit()
		return 1
	}
	if err := h.passThings(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	h.inherited = inherited
	for _, ln := range lns {
		h.loops.Add(1)
		go h.serve(ln)
	}
	tListen := time.Since(t0)
	if mode == "stop-then-ready" { // as a signal goroutine calling Stop may
		upg.Stop()
	}
	readyErr := upg.Ready()
	if readyErr != nil {
		// The Upgrader stopped accepting; finish what was accepted.
		fmt.Fprintln(os.Stderr, "helper:", readyErr)
		fmt.Printf("READY-FAILED %d %d\n", gen, os.Getpid())
	} else {
		fmt.Printf("READY %d %d %s\n", gen, os.Getpid(), lns[0].Addr())
	}
	if os.Getenv("HELPER_TIMING") != "" {
		fmt.Fprintln(os.Stderr, "TIMING new", tNew, "listen", tListen, "ready", time.Since(t0))
	}
	if mode == "ready-exit" {
		return 0
	}
	if moving {
		go h.adoptConns()
	}
	if os.Getenv("HELPER_UPGRADE_ON_READY") == strconv.Itoa(gen) {
		if err := upg.Upgrade(); err != nil {
			fmt.Printf("UPGRADE-ON-READY-FAILED %v\n", err)
		}
	}

	<-upg.Exit()
	h.addedMu.Lock()
	for _, ln := range append(append(lns, held...), h.added...) {
		ln.Close()
	}
	h.addedMu.Unlock()
	// A connection accepted just before the close is counted before its
	// loop returns; without this wait, the drain below could see none and
	// exit under it (a reset).
	h.loops.Wait()
	h.moveHeld()
	// Drain: existing connections finish their conversation.
	done := make(chan struct{})
	go func() { h.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		fmt.Fprintln(os.Stderr, "helper: drain timed out")
		return 4
	}
	if readyErr != nil {
		return 1
	}
	return 0
}

type helper struct {
	upg   *Upgrader
	conns sync.WaitGroup
	// loops counts the accept loops: once they have returned, every
	// connection they accepted is counted in conns.
	loops sync.WaitGroup
	// added are the listeners the "listen" command made after ready.
	addedMu     sync.Mutex
	added       []net.Listener
	heldMu      sync.Mutex
	held        []heldConn // conversations waiting to move
	inherited   []string
	fileContent []byte
}

// passThings hands a plain file and a connection over when asked to, and
// checks in later generations that they arrived.
func (h *helper) passThings() error {
	if path := os.Getenv("HELPER_FILE"); path != "" {
		f, err := h.upg.File("state")
		if err != nil {
			return err
		}
		if f == nil {
			if f, err = os.Open(path); err != nil {
				return err
			}
			if err := h.upg.AddFile("state", f); err != nil {
				return err
			}
		}
		b := make([]byte, 64)
		n, _ := f.ReadAt(b, 0)
		h.fileContent = b[:n]
		f.Close()
	}
	if addr := os.Getenv("HELPER_CONN"); addr != "" {
		c, err := h.upg.Conn("tcp", "upstream")
		if err != nil {
			return err
		}
		if c == nil {
			if c, err = net.Dial("tcp", addr); err != nil {
				return err
			}
			if err := h.upg.AddConn("tcp", "upstream", c.(*net.TCPConn)); err != nil {
				return err
			}
		}
		fmt.Fprintf(c, "hello from generation %d\n", h.upg.Generation())
		c.Close()
	}
	return nil
}

func (h *helper) serve(ln net.Listener) {
	defer h.loops.Done()
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // EMFILE, say: back off and retry, as net/http does
			time.Sleep(10 * time.Millisecond)
			continue
		}
		h.conns.Add(1)
		go func() {
			defer h.conns.Done()
			h.converse(c, nil)
		}()
	}
}

// converse answers commands on c, after those in prefix (bytes a
// previous generation had read), and closes c at the end, unless the
// conversation is held to move.
func (h *helper) converse(c net.Conn, prefix []byte) {
	pr := bytes.NewReader(prefix)
	r := bufio.NewReader(io.MultiReader(pr, c))
	enc := json.NewEncoder(c)
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch cmd {
		case "hold": // stop reading: what comes next waits for the move
			fmt.Fprintln(c, "held")
			rest, _ := r.Peek(r.Buffered())
			rest = append(append([]byte(nil), rest...), prefix[len(prefix)-pr.Len():]...)
			h.conns.Add(1)
			h.heldMu.Lock()
			h.held = append(h.held, heldConn{c, rest})
			h.heldMu.Unlock()
			c = nil
			return
		case "echo":
			fmt.Fprintf(c, "%s %d\n", arg, h.upg.Generation())
		case "info":
			enc.Encode(h.info())
		case "upgrade":
			enc.Encode(h.upgrade(arg))
		case "upgrade-verify": // "yes|no wait|nowait payload"
			verdict, rest, _ := strings.Cut(arg, " ")
			wait, payload, _ := strings.Cut(rest, " ")
			enc.Encode(h.upgradeVerified(verdict == "yes", wait == "wait", payload))
		case "upgrade-config":
			enc.Encode(h.result(h.upg.UpgradeWithOptions(UpgradeOptions{ConfigOnly: true})))
		case "wait-parent":
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := h.upg.WaitForParent(ctx)
			cancel()
			fmt.Fprintf(c, "%v\n", err)
		case "file":
			fmt.Fprintf(c, "%q\n", h.fileContent)
		case "nofile":
			n, _ := strconv.ParseUint(arg, 10, 64)
			var lim syscall.Rlimit
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
			lim.Cur = n
			fmt.Fprintf(c, "%v\n", syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
		case "standby":
			enc.Encode(h.upg.Standby())
		case "listen": // a listener added after ready
			ln, err := h.upg.Listen("tcp", arg)
			if err != nil {
				fmt.Fprintf(c, "%v\n", err)
				continue
			}
			h.addedMu.Lock()
			h.added = append(h.added, ln)
			h.addedMu.Unlock()
			h.loops.Add(1)
			go h.serve(ln)
			fmt.Fprintln(c, ln.Addr())
		case "stop":
			h.upg.Stop()
			fmt.Fprintln(c, "stopping")
		default:
			fmt.Fprintf(c, "unknown command %q\n", cmd)
		}
	}
}

func (h *helper) info() helperInfo {
	entries, _ := os.ReadDir("/proc/self/fd")
	var ino uint64
	if fi, err := os.Stat("/proc/self/exe"); err == nil {
		ino = fi.Sys().(*syscall.Stat_t).Ino
	}
	return helperInfo{
		Generation: h.upg.Generation(),
		Pid:        os.Getpid(),
		HasParent:  h.upg.HasParent(),
		Payload:    string(h.upg.Payload()),
		Fds:        len(entries),
		Goroutines: runtime.NumGoroutine(),
		Draining:   h.upg.DrainingPids(),
		ExeIno:     ino,
		Inherited:  h.inherited,
	}
}

func (h *helper) upgrade(payload string) helperResult {
	var err error
	start := time.Now()
	if payload == "" {
		err = h.upg.Upgrade()
	} else {
		err = h.upg.UpgradeWith([]byte(payload))
	}
	res := h.result(Child{}, err)
	res.Took = time.Since(start)
	return res
}

// errVerifyNo is the helper's Verify saying no.
var errVerifyNo = errors.New("helper: verify says no")

// upgradeVerified upgrades with a Verify that says yes or no; with wait,
// it first waits (10s at most) until the new generation says it has
// prepared (HELPER_PREPARED_DIR), which a standby does beside Verify.
func (h *helper) upgradeVerified(yes, wait bool, payload string) helperResult {
	var prepared int
	called := false
	verify := func() error {
		called = true
		dir := os.Getenv("HELPER_PREPARED_DIR")
		for deadline := time.Now().Add(10 * time.Second); wait && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			names, _ := filepath.Glob(filepath.Join(dir, "prepared-*"))
			for _, n := range names {
				if pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(n), "prepared-")); err == nil && pid != os.Getpid() {
					prepared = pid
				}
			}
			if prepared != 0 {
				break
			}
		}
		if !yes {
			return errVerifyNo
		}
		return nil
	}
	res := h.result(h.upg.UpgradeWithOptions(UpgradeOptions{Payload: []byte(payload), Verify: verify}))
	if res.Error != "" && !strings.Contains(res.Error, errVerifyNo.Error()) {
		return res
	}
	res.Prepared, res.Verified = prepared, called
	return res
}

func (h *helper) result(_ Child, err error) helperResult {
	if err == nil {
		return helperResult{OK: true}
	}
	res := helperResult{Error: err.Error(), ExitCode: -1}
	var ce *ChildError
	if errors.As(err, &ce) {
		res.Reason, res.Message, res.Pid = string(ce.Reason), ce.Message, ce.Pid
		res.ExitCode, res.Signal = ce.ExitCode, ce.Signal
	}
	var de *DrainingError
	if errors.As(err, &de) {
		res.Reason, res.Draining = "draining", de.Pids
	}
	return res
}

func (h *helper) serveUDP(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo([]byte(fmt.Sprintf("%s %d", buf[:n], h.upg.Generation())), addr)
	}
}

// heldConn is a conversation that stopped reading, to move at the next
// upgrade, with the bytes read and not yet answered.
type heldConn struct {
	c    net.Conn
	rest []byte
}

// moveHeld sends the held conversations to the new generation; one that
// cannot move goes on here.
func (h *helper) moveHeld() {
	sender := h.upg.ConnSender()
	defer sender.Close()
	h.heldMu.Lock()
	held := h.held
	h.held = nil
	h.heldMu.Unlock()
	for _, hc := range held {
		err := sender.Send("conv", hc.rest, hc.c.(syscall.Conn))
		if err == nil {
			hc.c.Close()
			fmt.Printf("MOVED %d\n", len(hc.rest))
			h.conns.Done()
			continue
		}
		fmt.Printf("NOT-MOVED %v\n", err)
		go func() {
			defer h.conns.Done()
			h.converse(hc.c, hc.rest)
		}()
	}
}

// adoptConns converses on each connection the parent moves here.
func (h *helper) adoptConns() {
	for {
		key, state, files, err := h.upg.AcceptConn()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper: adopting:", err)
			continue
		}
		c, err := net.FileConn(files[0])
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper: adopting:", err)
			continue
		}
		fmt.Printf("ADOPTED %s %d\n", key, len(state))
		h.conns.Add(1)
		go func() {
			defer h.conns.Done()
			h.converse(c, state)
		}()
	}
}
