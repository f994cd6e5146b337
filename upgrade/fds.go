package upgrade

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"syscall"
)

// Listener can be shared between processes.
type Listener interface {
	net.Listener
	syscall.Conn
}

// PacketConn can be shared between processes.
type PacketConn interface {
	net.PacketConn
	syscall.Conn
}

// Conn can be shared between processes.
type Conn interface {
	net.Conn
	syscall.Conn
}

// The kinds of descriptor the registry holds; they are part of the
// handshake (see the package documentation).
const (
	kindListener = "listener"
	kindPacket   = "packet"
	kindConn     = "conn"
	kindFile     = "fd"
)

// fdKey names one descriptor: its kind, network and address (for kindFile
// the network is empty and the address is the caller's name).
type fdKey struct {
	Kind    string `json:"kind"`
	Network string `json:"network,omitempty"`
	Addr    string `json:"addr"`
}

func (k fdKey) String() string {
	if k.Kind == kindFile {
		return k.Kind + ":" + k.Addr
	}
	return k.Kind + ":" + k.Network + ":" + k.Addr
}

// unixSocketPath returns the path of a unix socket file this key binds, or
// "" if there is none (not unix, or the Linux abstract namespace).
func (k fdKey) unixSocketPath() string {
	isUnix := (k.Kind == kindListener && (k.Network == "unix" || k.Network == "unixpacket")) ||
		(k.Kind == kindPacket && k.Network == "unixgram")
	if !isUnix || k.Addr == "" || k.Addr[0] == '@' {
		return ""
	}
	return k.Addr
}

// Fds is the registry of descriptors that move from one generation to the
// next: listeners, packet conns, connections and plain files. Every entry
// holds a private duplicate of the descriptor, so callers may close what
// they were given without affecting the handover.
//
// Entries are keyed by kind, network and address exactly as the caller
// spelled them ("tcp", "127.0.0.1:0" finds the listener that was created
// with that same pair, whatever port the kernel picked). A listener that
// came from systemd socket activation is keyed by its bound address and is
// also found by any spelling that resolves to it (":8080" finds "[::]:8080").
type Fds struct {
	mu sync.Mutex
	// inherited holds what the parent or systemd passed; an entry claimed
	// since stays, marked claimed (one map operation a claim, a thousand
	// times over for a thousand listeners), and is passed on with used.
	inherited map[fdKey]*entry
	used      map[fdKey]*entry // added in this generation; passed on
	lc        *net.ListenConfig
	// handed are the listeners and packet conns given to callers, closed
	// by stopAccepting when a new generation fails after it started.
	handed []io.Closer
	// onCreate, if set, hears of every unix socket file this process
	// creates (called with mu held).
	onCreate func(path string)
	// version counts the changes of used, so that a standby started
	// with an older set is not taken; onChange, if set, hears of each
	// (called with mu held, must not block).
	version  uint64
	onChange func()
}

// entry is one descriptor of the registry.
type entry struct {
	fd int
	// created is set for a descriptor this process made (not inherited):
	// a unix socket file of its own is removed if it fails before ready.
	created bool
	// file owns fd once set: an inherited socket is wrapped once, so that
	// its listener is built without another duplicate.
	file *os.File
	// prepared is the object a standby built ahead of its activation,
	// handed to the first caller who claims the entry.
	prepared io.Closer
	// claimed marks an inherited entry this generation took: it is
	// passed on at the next upgrade.
	claimed bool
}

func (e *entry) close() {
	if e.prepared != nil {
		e.prepared.Close()
	}
	if e.file != nil {
		e.file.Close()
	} else {
		closeFd(e.fd)
	}
}

func newFds(inherited map[fdKey]int, lc *net.ListenConfig) *Fds {
	if lc == nil {
		lc = &net.ListenConfig{}
	}
	entries := make(map[fdKey]*entry, len(inherited))
	for key, fd := range inherited {
		entries[key] = &entry{fd: fd}
	}
	return &Fds{inherited: entries, used: make(map[fdKey]*entry), lc: lc,
		handed: make([]io.Closer, 0, len(inherited))}
}

// Listen returns a listener inherited from the parent process, or creates
// a new one with Options.ListenConfig.
func (f *Fds) Listen(network, addr string) (net.Listener, error) {
	return f.ListenWithCallback(network, addr, func(network, addr string) (net.Listener, error) {
		return f.lc.Listen(context.Background(), network, addr)
	})
}

// ListenWithCallback returns a listener inherited from the parent process,
// or calls callback to create a new one. The callback must not use f: it
// is called with f locked.
func (f *Fds) ListenWithCallback(network, addr string, callback func(network, addr string) (net.Listener, error)) (net.Listener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()

	key := fdKey{kindListener, network, addr}
	if ln, err := f.inheritLocked(key); ln != nil || err != nil {
		return asListener(ln, err)
	}
	ln, err := callback(network, addr)
	if err != nil {
		return nil, fmt.Errorf("upgrade: can't create listener %s %s: %w", network, addr, err)
	}
	sl, ok := ln.(Listener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("upgrade: %T does not implement upgrade.Listener", ln)
	}
	if err := f.addListenerLocked(key, sl); err != nil {
		ln.Close()
		return nil, err
	}
	f.handed = append(f.handed, ln)
	return ln, nil
}

// Listener returns an inherited listener, or nil if there is none.
// It is safe to close the returned listener.
func (f *Fds) Listener(network, addr string) (net.Listener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return asListener(f.inheritLocked(fdKey{kindListener, network, addr}))
}

// AddListener adds a listener to be passed to the next generation. It is
// safe to close ln afterwards. An entry with the same address is replaced.
func (f *Fds) AddListener(network, addr string, ln Listener) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addListenerLocked(fdKey{kindListener, network, addr}, ln)
}

type unlinkOnCloser interface{ SetUnlinkOnClose(bool) }

func (f *Fds) addListenerLocked(key fdKey, ln Listener) error {
	// The socket file must outlive this process's listener: the next
	// generation serves it. It is unlinked on a final Stop instead.
	if u, ok := ln.(unlinkOnCloser); ok {
		u.SetUnlinkOnClose(false)
	}
	return f.addLocked(key, ln)
}

// ListenPacket returns a packet conn inherited from the parent process, or
// creates a new one with Options.ListenConfig.
func (f *Fds) ListenPacket(network, addr string) (net.PacketConn, error) {
	return f.ListenPacketWithCallback(network, addr, func(network, addr string) (net.PacketConn, error) {
		return f.lc.ListenPacket(context.Background(), network, addr)
	})
}

// ListenPacketWithCallback returns a packet conn inherited from the parent
// process, or calls callback to create a new one. The callback must not
// use f: it is called with f locked.
func (f *Fds) ListenPacketWithCallback(network, addr string, callback func(network, addr string) (net.PacketConn, error)) (net.PacketConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()

	key := fdKey{kindPacket, network, addr}
	if pc, err := f.inheritLocked(key); pc != nil || err != nil {
		return asPacketConn(pc, err)
	}
	pc, err := callback(network, addr)
	if err != nil {
		return nil, fmt.Errorf("upgrade: can't create packet conn %s %s: %w", network, addr, err)
	}
	spc, ok := pc.(PacketConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("upgrade: %T does not implement upgrade.PacketConn", pc)
	}
	if err := f.addLocked(key, spc); err != nil {
		pc.Close()
		return nil, err
	}
	f.handed = append(f.handed, pc)
	return pc, nil
}

// PacketConn returns an inherited packet conn, or nil if there is none.
// It is safe to close the returned conn.
func (f *Fds) PacketConn(network, addr string) (net.PacketConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return asPacketConn(f.inheritLocked(fdKey{kindPacket, network, addr}))
}

// AddPacketConn adds a packet conn to be passed to the next generation. It
// is safe to close conn afterwards. An entry with the same address is
// replaced.
func (f *Fds) AddPacketConn(network, addr string, conn PacketConn) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(fdKey{kindPacket, network, addr}, conn)
}

// Conn returns an inherited connection, or nil if there is none.
// It is safe to close the returned conn.
func (f *Fds) Conn(network, addr string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.inheritLocked(fdKey{kindConn, network, addr})
	if c == nil || err != nil {
		return nil, err
	}
	return c.(net.Conn), nil
}

// AddConn adds a connection to be passed to the next generation. It is
// safe to close conn afterwards.
func (f *Fds) AddConn(network, addr string, conn Conn) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(fdKey{kindConn, network, addr}, conn)
}

// File returns a duplicate of an inherited file, or nil if there is none.
// The descriptor may be in blocking mode.
func (f *Fds) File(name string) (*os.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	file, err := f.inheritLocked(fdKey{Kind: kindFile, Addr: name})
	if file == nil || err != nil {
		return nil, err
	}
	return file.(*os.File), nil
}

// Files returns duplicates of all inherited plain files (those added with
// AddFile by the parent) and marks them as used, so that they are passed
// on at the next upgrade. The descriptors may be in blocking mode.
func (f *Fds) Files() ([]*os.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []fdKey
	for key, e := range f.inherited {
		if key.Kind == kindFile && !e.claimed {
			keys = append(keys, key)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Addr < keys[j].Addr })
	files := make([]*os.File, 0, len(keys))
	for _, key := range keys {
		file, err := f.inheritLocked(key)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		files = append(files, file.(*os.File))
	}
	return files, nil
}

// AddFile adds a file to be passed to the next generation under name. It
// is safe to close file afterwards.
func (f *Fds) AddFile(name string, file *os.File) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(fdKey{Kind: kindFile, Addr: name}, file)
}

// inheritLocked claims an inherited descriptor: it is marked claimed (so
// it is passed on at the next upgrade) and the caller gets a new object
// over a private duplicate. It returns nil, nil if nothing is inherited
// under key, or it was claimed already.
func (f *Fds) inheritLocked(key fdKey) (any, error) {
	e, ok := f.inherited[key]
	if ok && e.claimed {
		return nil, nil
	}
	if !ok {
		var found bool
		if key, found = f.matchAddrLocked(key); !found {
			return nil, nil
		}
		e = f.inherited[key]
	}
	obj, err := objectFromEntry(e, key)
	if err != nil {
		return nil, fmt.Errorf("upgrade: can't inherit %s: %w", key, err)
	}
	e.claimed = true
	if key.Kind == kindListener || key.Kind == kindPacket {
		f.handed = append(f.handed, obj.(io.Closer))
	}
	return obj, nil
}

// matchAddrLocked finds an inherited socket whose address resolves to the
// same as key's, so that ":8080" matches a systemd socket bound to
// "[::]:8080".
func (f *Fds) matchAddrLocked(key fdKey) (fdKey, bool) {
	if key.Kind == kindFile || key.Kind == kindConn {
		return fdKey{}, false
	}
	want, ok := canonicalAddr(key.Network, key.Addr)
	if !ok {
		return fdKey{}, false
	}
	for k, e := range f.inherited {
		if e.claimed || k.Kind != key.Kind || networkFamily(k.Network) != networkFamily(key.Network) {
			continue
		}
		if got, ok := canonicalAddr(k.Network, k.Addr); ok && got == want {
			return k, true
		}
	}
	return fdKey{}, false
}

func (f *Fds) addLocked(key fdKey, conn syscall.Conn) error {
	fd, err := dupConn(conn)
	if err != nil {
		return fmt.Errorf("upgrade: can't duplicate %s: %w", key, err)
	}
	if old, ok := f.used[key]; ok {
		old.close()
	}
	if old, ok := f.inherited[key]; ok {
		old.close()
		delete(f.inherited, key)
	}
	f.used[key] = &entry{fd: fd, created: true}
	f.version++
	if f.onChange != nil {
		f.onChange()
	}
	if path := key.unixSocketPath(); path != "" && f.onCreate != nil {
		f.onCreate(path)
	}
	return nil
}

// snapshotLocked returns the used descriptors, for a handover, in the
// order of their numbers. The handshake names each one, so the order is
// of no consequence to the child; but the forked process places
// descriptor i at position i before exec, and one whose number is below
// its position is first moved out of the way with one more dup3. In
// ascending order an inherited descriptor usually is at its position
// already (one fcntl instead of two dup3s, a thousand times over for a
// thousand listeners).
func (f *Fds) snapshotLocked() ([]fdKey, []int) {
	entries := make([]fdEntry, 0, len(f.used)+len(f.inherited))
	for key, e := range f.used {
		entries = append(entries, fdEntry{key, e.fd})
	}
	for key, e := range f.inherited {
		if e.claimed {
			entries = append(entries, fdEntry{key, e.fd})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].fd < entries[j].fd })
	keys := make([]fdKey, len(entries))
	fds := make([]int, len(entries))
	for i, e := range entries {
		keys[i], fds[i] = e.key, e.fd
	}
	return keys, fds
}

type fdEntry struct {
	key fdKey
	fd  int
}

func asListener(obj any, err error) (net.Listener, error) {
	if obj == nil || err != nil {
		return nil, err
	}
	return obj.(net.Listener), nil
}

func asPacketConn(obj any, err error) (net.PacketConn, error) {
	if obj == nil || err != nil {
		return nil, err
	}
	return obj.(net.PacketConn), nil
}
