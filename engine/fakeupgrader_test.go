package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flipd/flipd/upgrade"
)

// fakeUpgrader stands in for *upgrade.Upgrader in the instance's own
// tests. It keeps the real one's rules (no upgrade before Ready, one at a
// time, none after Stop or a handover, a refusal while too many elders
// drain; Exit closes after Stop, or after a handover, and a Stop during an
// upgrade closes it only once that upgrade returns) and lets each test
// say what the new generation does. Sockets are real loopback ones.
//
// The fields before mu are set before the instance starts and only read
// after.
type fakeUpgrader struct {
	gen int
	// payload, if set, is what a parent passed on: HasParent is true.
	payload []byte
	// parentExited, if set, is closed by the test when the parent exits.
	parentExited chan struct{}
	elders       []upgrade.Elder
	// readyErr is what Ready returns; onReady runs as it is called.
	readyErr error
	onReady  func(in *Instance)
	in       *Instance
	// child is what the new generation does in an upgrade: it returns
	// once the child serves, or failed. stop is closed by Stop.
	child func(opts upgrade.UpgradeOptions, stop <-chan struct{}) (upgrade.Child, error)
	// replyAfterDrain: an upgrade that failed because of a Stop closes
	// Exit, and returns only once the instance has drained. (The real
	// upgrader replies, then closes Exit; nothing orders what the caller
	// does with the reply against the drain.)
	replyAfterDrain bool

	mu                 sync.Mutex
	ready, upgrading   bool
	stopC, exitC       chan struct{}
	stopCalls          int
	failed             error
	upgrades           []upgrade.UpgradeOptions // asked for, less those their Verify refused
	listened           []string
	signalled          []int // the pids told to stop
	stopOnce, exitOnce sync.Once
	upgradeStarted     chan struct{} // closed when an upgrade is accepted
	upgradeStartedOnce sync.Once
}

func newFakeUpgrader(gen int) *fakeUpgrader {
	return &fakeUpgrader{gen: gen, stopC: make(chan struct{}), exitC: make(chan struct{}),
		upgradeStarted: make(chan struct{})}
}

func (f *fakeUpgrader) Listen(network, addr string) (net.Listener, error) {
	f.mu.Lock()
	f.listened = append(f.listened, network+"/"+addr)
	f.mu.Unlock()
	return net.Listen(network, addr)
}

func (f *fakeUpgrader) ListenWithCallback(network, addr string, open func(network, addr string) (net.Listener, error)) (net.Listener, error) {
	f.mu.Lock()
	f.listened = append(f.listened, network+"/"+addr)
	f.mu.Unlock()
	return open(network, addr)
}

func (f *fakeUpgrader) ListenPacketWithCallback(network, addr string, open func(network, addr string) (net.PacketConn, error)) (net.PacketConn, error) {
	f.mu.Lock()
	f.listened = append(f.listened, network+"/"+addr)
	f.mu.Unlock()
	return open(network, addr)
}

func (f *fakeUpgrader) HasParent() bool { return f.payload != nil }
func (f *fakeUpgrader) Generation() int { return f.gen }
func (f *fakeUpgrader) Payload() []byte { return f.payload }

// Verified: the fake's generations have no standby to verify.
func (f *fakeUpgrader) Verified() error { return nil }

func (f *fakeUpgrader) Ready() error {
	if f.onReady != nil {
		f.onReady(f.in)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.stopC:
		return errors.New("upgrade: stopped before ready")
	default:
	}
	if f.readyErr != nil {
		return f.readyErr
	}
	f.ready = true
	return nil
}

func (f *fakeUpgrader) Fail(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.payload != nil {
		f.failed = err
	}
	return nil
}

func (f *fakeUpgrader) UpgradeWithOptions(opts upgrade.UpgradeOptions) (upgrade.Child, error) {
	f.mu.Lock()
	f.upgrades = append(f.upgrades, opts)
	max := opts.MaxDraining
	if max <= 0 {
		max = upgrade.DefaultMaxDraining
	}
	var err error
	switch {
	case f.isClosed(f.stopC):
		err = upgrade.ErrTerminating
	case f.isClosed(f.exitC):
		err = upgrade.ErrAlreadyUpgraded
	case !f.ready:
		err = upgrade.ErrNotReady
	case f.upgrading:
		err = upgrade.ErrUpgradeInProgress
	case len(f.elders) >= max:
		pids := []int{}
		for _, e := range f.elders {
			pids = append(pids, e.Pid)
		}
		err = &upgrade.DrainingError{Pids: pids, Max: max}
	}
	if err != nil {
		f.mu.Unlock()
		return upgrade.Child{}, err
	}
	f.upgrading = true
	f.mu.Unlock()
	f.upgradeStartedOnce.Do(func() { close(f.upgradeStarted) })
	// As upgrade does without a standby: verified before anything starts.
	if opts.Verify != nil {
		if err := opts.Verify(); err != nil {
			f.mu.Lock()
			f.upgrading = false
			// Refused by its verification, the upgrade started nothing:
			// upgrades lists only those that went that far.
			f.upgrades = f.upgrades[:len(f.upgrades)-1]
			f.mu.Unlock()
			return upgrade.Child{}, err
		}
	}

	child, err := f.runChild(opts)
	if err == nil && child.Generation == 0 {
		child.Generation = f.gen + 1
	}

	f.mu.Lock()
	f.upgrading = false
	stopped := f.isClosed(f.stopC)
	if err == nil || stopped {
		f.exitOnce.Do(func() { close(f.exitC) })
	}
	f.mu.Unlock()
	if err != nil && stopped && f.replyAfterDrain {
		<-f.in.Done()
	}
	return child, err
}

// runChild is the new generation; by default it starts and serves.
func (f *fakeUpgrader) runChild(opts upgrade.UpgradeOptions) (upgrade.Child, error) {
	if f.child != nil {
		return f.child(opts, f.stopC)
	}
	return childServes(4242)(opts, f.stopC)
}

// childServes is a new generation with pid that starts and serves.
func childServes(pid int) func(upgrade.UpgradeOptions, <-chan struct{}) (upgrade.Child, error) {
	return func(opts upgrade.UpgradeOptions, _ <-chan struct{}) (upgrade.Child, error) {
		if opts.Started != nil {
			opts.Started(pid)
		}
		return upgrade.Child{Pid: pid}, nil
	}
}

func (f *fakeUpgrader) isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (f *fakeUpgrader) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopCalls++
	f.stopOnce.Do(func() { close(f.stopC) })
	if !f.upgrading {
		f.exitOnce.Do(func() { close(f.exitC) })
	}
}

func (f *fakeUpgrader) Exit() <-chan struct{} { return f.exitC }

func (f *fakeUpgrader) WaitForParent(ctx context.Context) error {
	if f.payload == nil || f.parentExited == nil {
		return nil
	}
	select {
	case <-f.parentExited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeUpgrader) Elders() []upgrade.Elder { return f.elders }

// signal is the instance's stopPid: it records whom it was asked to stop.
func (f *fakeUpgrader) signal(pid int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signalled = append(f.signalled, pid)
	return nil
}

// signalledPids says which pids the instance asked to stop.
func (f *fakeUpgrader) signalledPids() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.signalled...)
}

// stops says how often Stop was called.
func (f *fakeUpgrader) stops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopCalls
}

// lastUpgrade is what the last upgrade asked for.
func (f *fakeUpgrader) lastUpgrade(t *testing.T) upgrade.UpgradeOptions {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.upgrades) == 0 {
		t.Fatal("no upgrade was asked for")
	}
	return f.upgrades[len(f.upgrades)-1]
}

// testConfig is a config with one test listener on a free loopback port;
// upgrade is the "upgrade" section's content.
func testConfig(t *testing.T, upgrade string) string {
	return `{"admin": {"disabled": true}, "storage": {"dir": "` + t.TempDir() + `"},
		"upgrade": {` + upgrade + `},
		"listeners": {"t": {"address": "tcp/127.0.0.1:0", "module": "test", "greeting": "hi"}}}`
}

// startOn starts a generation on f with config, as Start does on the real
// upgrader; it is closed when the test ends.
func startOn(t *testing.T, f *fakeUpgrader, config string, opts Options) *Instance {
	t.Helper()
	in, err := launchOn(f, config, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		<-in.Done()
	})
	return in
}

// launchOn is startOn without the checks.
func launchOn(f *fakeUpgrader, config string, opts Options) (*Instance, error) {
	if opts.Config == nil {
		opts.Config = func() ([]byte, string, error) { return []byte(config), "test", nil }
	}
	if opts.LogOutput == nil {
		opts.LogOutput = io.Discard
	}
	in := newInstance(f, newUpgradeLog(), time.Now())
	in.stopPid = f.signal
	f.in = in
	return launch(in, opts)
}

// waitDone waits for in to have drained.
func waitDone(t *testing.T, in *Instance) {
	t.Helper()
	select {
	case <-in.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the generation did not drain; state %q", in.Status().State)
	}
}

// pidFileNames reports what pid the file at path names ("" if none).
func pidFileNames(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pidFilePath is a PID file in a fresh directory.
func pidFilePath(t *testing.T) string { return filepath.Join(t.TempDir(), "flipd.pid") }

// The fake moves no connection: it offers nothing to a parent and
// receives nothing.
func (f *fakeUpgrader) OfferConns([]string) error { return nil }
func (f *fakeUpgrader) AcceptConn() (string, []byte, []*os.File, error) {
	return "", nil, nil, io.EOF
}
func (f *fakeUpgrader) ConnSender() *upgrade.ConnSender { return nil }
func (f *fakeUpgrader) StopAcceptingConns() error       { return nil }

func (f *fakeUpgrader) EnableStandby(bool)           {}
func (f *fakeUpgrader) Standby() upgrade.StandbyInfo { return upgrade.StandbyInfo{} }
