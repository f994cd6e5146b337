package quicroute

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/quic-go/quic-go"

	"github.com/flipd/flipd/upgrade"
)

// Upgrader is what a Router needs of package upgrade; *upgrade.Upgrader
// has it.
type Upgrader interface {
	ListenPacket(network, addr string) (net.PacketConn, error)
	File(name string) (*os.File, error)
	AddFile(name string, file *os.File) error
	Generation() int
	Elders() []upgrade.Elder
	// Exit closes when the next generation is ready (or at Stop): the
	// router then stops reading the shared socket.
	Exit() <-chan struct{}
}

// Options configure a Router.
type Options struct {
	// Name tells apart the routers of one process in the files passed to
	// the next generation. Defaults to network/addr.
	Name string
	// Logger receives the router's logs. Defaults to no logging.
	Logger hclog.Logger
	// DisableForwarding drops packets for older generations instead of
	// forwarding them, so that their connections die at an upgrade: for
	// tests and benchmarks that must show what forwarding saves.
	DisableForwarding bool
}

// Router is one generation's end of a shared QUIC UDP socket. Build one
// per socket before Ready, serve on its Transport, and Close it when this
// generation has drained.
type Router struct {
	name  string
	gen   uint32
	log   hclog.Logger
	codec *cidCodec
	noFwd bool

	shared net.PacketConn // read while this generation is the newest; upgrade closes it at the handover
	out    net.PacketConn // this router's own copy, for writes until Close
	conn   *genConn
	tr     *quic.Transport
	own    *net.UnixConn // forwarded packets arrive here; writes reach the next generation

	mu     sync.Mutex
	elders map[uint32]*net.UnixConn // links to older generations, by generation
	parent *net.UnixConn            // the link to the previous generation, if it serves QUIC here

	// childCheck and childAlive cache, for readShared alone, whether a
	// successor that said hello still runs: new connections go to it.
	childCheck time.Time
	childAlive bool

	conns      atomic.Int64
	counts     counts
	forwarded  atomic.Uint64
	dropped    atomic.Uint64
	newest     atomic.Bool
	successor  chan struct{} // closed when the next generation's router says hello
	hello      sync.Once
	helloMu    sync.Mutex
	helloPids  []int // of the routers that said hello; a failed one is gone by the next Exit
	handOnce   sync.Once
	handedOver bool
	sharedDone chan struct{} // readShared returned
	closeOnce  sync.Once
	wg         sync.WaitGroup
}

// New opens or inherits the UDP socket network/addr through upg and sets
// up this generation's routes: its own link (passed to the next
// generation), the links to the older generations still draining, and
// the secret they all share.
func New(upg Upgrader, network, addr string, opts Options) (*Router, error) {
	r := &Router{name: opts.Name, noFwd: opts.DisableForwarding, elders: map[uint32]*net.UnixConn{}, successor: make(chan struct{}), sharedDone: make(chan struct{})}
	if r.name == "" {
		r.name = network + "/" + addr
	}
	r.gen = uint32(max(upg.Generation(), 1))
	r.log = opts.Logger
	if r.log == nil {
		r.log = hclog.NewNullLogger()
	}
	r.log = r.log.Named("quicroute").With("pid", os.Getpid(), "generation", r.gen, "socket", r.name)
	if err := r.open(upg, network, addr); err != nil {
		r.closeAll()
		return nil, err
	}
	r.newest.Store(true)
	r.wg.Add(2)
	go r.readShared()
	go r.watchExit(upg.Exit())
	r.greetParent(upg)
	go r.readLink(r.own, false)
	r.mu.Lock()
	for _, l := range r.elders {
		r.wg.Add(1)
		go r.readLink(l, true)
	}
	r.mu.Unlock()
	r.log.Debug("routing quic packets", "elders", len(r.elders))
	return r, nil
}

func (r *Router) open(upg Upgrader, network, addr string) error {
	var err error
	if r.shared, err = upg.ListenPacket(network, addr); err != nil {
		return fmt.Errorf("quicroute: opening %s/%s: %w", network, addr, err)
	}
	if r.out, err = dupPacketConn(r.shared); err != nil {
		return fmt.Errorf("quicroute: copying %s/%s: %w", network, addr, err)
	}
	secret, err := loadSecret(upg, r.name+"/secret")
	if err != nil {
		return err
	}
	if r.codec, err = newCIDCodec(secret); err != nil {
		return err
	}
	if err := r.openLinks(upg); err != nil {
		return err
	}
	r.conn = newGenConn(r.out)
	resetKey := quic.StatelessResetKey(derive(secret, "stateless reset"))
	tokenKey := quic.TokenGeneratorKey(derive(secret, "token"))
	r.tr = &quic.Transport{
		Conn:                  r.conn,
		ConnectionIDGenerator: generator{codec: r.codec, gen: r.gen},
		StatelessResetKey:     &resetKey,
		TokenGeneratorKey:     &tokenKey,
		ConnContext:           r.connContext,
	}
	return nil
}

// openLinks creates this generation's link and claims those of the older
// generations still alive; links of generations that have exited are
// left unclaimed, and package upgrade closes them after Ready.
func (r *Router) openLinks(upg Upgrader) error {
	own, child, err := socketpair(r.linkName(r.gen))
	if err != nil {
		return fmt.Errorf("quicroute: link for generation %d: %w", r.gen, err)
	}
	r.own = own
	err = upg.AddFile(r.linkName(r.gen), child)
	child.Close()
	if err != nil {
		return fmt.Errorf("quicroute: passing on the link of generation %d: %w", r.gen, err)
	}
	for _, e := range upg.Elders() {
		f, err := upg.File(r.linkName(uint32(e.Generation)))
		if err != nil {
			return fmt.Errorf("quicroute: inheriting the link of generation %d: %w", e.Generation, err)
		}
		if f == nil {
			continue // that generation served no QUIC on this socket
		}
		l, err := fileUnixConn(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("quicroute: inheriting the link of generation %d: %w", e.Generation, err)
		}
		r.elders[uint32(e.Generation)] = l
	}
	if elders := upg.Elders(); len(elders) > 0 {
		r.parent = r.elders[uint32(elders[len(elders)-1].Generation)]
	}
	return nil
}

// watchExit hands over when the upgrader's Exit closes.
func (r *Router) watchExit(exit <-chan struct{}) {
	select {
	case <-exit:
		r.HandOver()
	case <-r.conn.done:
	}
}

// HandOver stops this generation reading the shared socket, once the
// upgrader's Exit has closed, if the next generation reads it (its router
// said hello on this generation's link before it reported ready), and
// returns true once no packet is being routed here any more. A next
// generation without a router for this socket (the config dropped it, or
// moved it to another port), or a final stop, leaves the socket to this
// generation while it drains, so that its connections still get their
// packets: HandOver then returns false.
//
// The router hands over by itself when Exit closes; a server calls
// HandOver before it stops accepting (http3.Server.Shutdown), so that no
// new connection reaches a generation that would refuse it.
func (r *Router) HandOver() bool {
	r.handOnce.Do(func() {
		if r.handedOver = r.awaitSuccessor(); r.handedOver {
			r.newest.Store(false)
			r.shared.Close() // ends readShared; writes go on through r.out
			r.log.Debug("handed the socket over to the next generation", append([]any{"open_conns", r.conns.Load()}, r.counts.logArgs()...)...)
		} else {
			r.log.Info("no newer generation reads this socket: this one keeps reading it while it drains")
		}
	})
	if r.handedOver {
		<-r.sharedDone
	}
	return r.handedOver
}

// awaitSuccessor waits, at most helloWait, for a live successor's hello.
func (r *Router) awaitSuccessor() bool {
	deadline := time.Now().Add(helloWait)
	for !r.successorAlive() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-r.successor:
			time.Sleep(10 * time.Millisecond) // a hello from a dead child; wait for a live one
		case <-time.After(10 * time.Millisecond):
		case <-r.conn.done:
			return false
		}
	}
	return true
}

// sayHello records a successor's hello.
func (r *Router) sayHello(pid int) {
	r.helloMu.Lock()
	r.helloPids = append(r.helloPids, pid)
	r.helloMu.Unlock()
	r.hello.Do(func() { close(r.successor) })
}

// successorAlive says whether a router that said hello still runs: the
// child of a failed upgrade said hello too, but it has exited and been
// reaped by the time a later upgrade completes.
func (r *Router) successorAlive() bool {
	r.helloMu.Lock()
	defer r.helloMu.Unlock()
	for _, pid := range r.helloPids {
		if processAlive(pid) {
			return true
		}
	}
	return false
}

// helloWait bounds how long HandOver waits for a hello that is already
// queued on the link (the next generation sends it before it is ready).
const helloWait = 500 * time.Millisecond

// greetParent tells the parent, if it has a router for this socket, that
// this generation reads the socket now.
func (r *Router) greetParent(upg Upgrader) {
	elders := upg.Elders()
	if len(elders) == 0 {
		return
	}
	r.mu.Lock()
	link := r.parent
	r.mu.Unlock()
	if link == nil {
		return
	}
	if err := trySend(link, binary.BigEndian.AppendUint32([]byte{helloByte}, uint32(os.Getpid()))); err != nil {
		r.log.Warn("telling the previous generation that this one reads the socket failed", "error", err)
	}
}

func (r *Router) linkName(gen uint32) string {
	return r.name + "/link/" + strconv.FormatUint(uint64(gen), 10)
}

// Transport is this generation's quic.Transport: listen on it (Listen or
// ListenEarly) and serve. Its connection IDs carry this generation, and
// its stateless reset and token keys are those of every generation.
func (r *Router) Transport() *quic.Transport { return r.tr }

// Generation is the generation this router issues connection IDs for.
func (r *Router) Generation() int { return int(r.gen) }

// OpenConns counts this generation's QUIC connections, handshakes
// included, until each closes.
func (r *Router) OpenConns() int { return int(r.conns.Load()) }

// Newest says whether this generation still reads the shared socket;
// it stops once the next one has taken over.
func (r *Router) Newest() bool { return r.newest.Load() }

// Stats are a router's packet counts since it started.
type Stats struct {
	Forwarded uint64 // packets sent on to another generation
	Dropped   uint64 // malformed, unknown, or for a generation that is gone
}

// Stats returns the router's packet counts.
func (r *Router) Stats() Stats {
	return Stats{Forwarded: r.forwarded.Load(), Dropped: r.dropped.Load()}
}

func (r *Router) connContext(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	r.conns.Add(1)
	context.AfterFunc(ctx, func() { r.conns.Add(-1) })
	return ctx, nil
}

// Close closes the Transport (and with it every connection left) and the
// links; newer generations then drop what they would have forwarded here.
func (r *Router) Close() error {
	var err error
	r.closeOnce.Do(func() {
		if r.tr != nil {
			err = r.tr.Close()
		}
		r.closeAll()
		r.wg.Wait()
		r.log.Debug("closed", r.counts.logArgs()...)
	})
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (r *Router) closeAll() {
	if r.conn != nil {
		r.conn.Close()
	}
	if r.shared != nil {
		r.shared.Close()
	}
	if r.out != nil {
		r.out.Close()
	}
	if r.own != nil {
		r.own.Close()
	}
	r.closeElders()
}

func (r *Router) closeElders() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for gen, l := range r.elders {
		l.Close()
		delete(r.elders, gen)
	}
}
