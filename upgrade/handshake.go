package upgrade

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// The handshake, version 1. See the package documentation for the prose.
const (
	protocolVersion = 1
	// envHandshake marks a process started by an upgrade; its value is the
	// protocol version the parent speaks.
	envHandshake = "FLIPD_UPGRADE"
	// fdHandshake is the read end of a pipe holding one JSON handshake
	// document, then EOF.
	fdHandshake = 3
	// fdStatus is the write end of a pipe on which the child writes one
	// JSON status line.
	fdStatus = 4
	// maxStatusLine bounds what the parent reads from a child.
	maxStatusLine = 64 << 10
)

// handshakeTimeout bounds how long a new process waits for the handshake
// document on fd 3 (a variable for tests).
var handshakeTimeout = 10 * time.Second

// handshake is what a parent tells the child it starts.
type handshake struct {
	Version    int    `json:"version"`
	Generation int    `json:"generation"`
	ParentPid  int    `json:"parent_pid"`
	Executable string `json:"executable"`
	// Files are the sockets and files handed over, each at descriptor FD.
	Files []passedFd `json:"files"`
	// Draining lists the older generations that have not exited yet,
	// oldest first, the parent last; FD is the read end of a pipe whose
	// write end only that generation holds, so EOF means it exited.
	Draining []drainingGen `json:"draining"`
	// Payload is opaque to this package (the runtime puts the config there).
	Payload []byte `json:"payload,omitempty"`
	// ReportSockets asks the child to report each unix socket file it
	// creates before it is ready ("socket" status lines), so that the
	// parent can remove them if the child dies. Added within version 1:
	// older children ignore it, older parents never set it.
	ReportSockets bool `json:"report_sockets,omitempty"`
	// Conns is the channel on which established connections move, after
	// the child is ready (see "Moving connections"). Added within
	// version 1: older children ignore it (and so adopt nothing), older
	// parents never send it.
	Conns *connsChannel `json:"conns,omitempty"`
	// Standby says the child is started ahead of its upgrade: the
	// payload comes later, in an activation document on the same pipe
	// (see "Standby"). Sent only with FLIPD_UPGRADE=standby-1, which
	// older children refuse.
	Standby bool `json:"standby,omitempty"`
}

// activation is the second document a standby reads: what makes it the
// new generation.
type activationDoc struct {
	Payload []byte `json:"payload,omitempty"`
	// Verify: the parent verifies the upgrade while the standby prepares;
	// its verdict follows on the same pipe (verdictDoc), and the standby
	// serves only once it says yes (Upgrader.Verified).
	Verify bool `json:"verify,omitempty"`
}

// verdictDoc is the third document a standby activated with Verify reads.
// The pipe's end without it means no.
type verdictDoc struct {
	Verified bool `json:"verified"`
}

// connsChannel names the child's end of the connection channel.
type connsChannel struct {
	Version int `json:"version"`
	FD      int `json:"fd"`
}

type passedFd struct {
	fdKey
	FD int `json:"fd"`
}

type drainingGen struct {
	Pid        int       `json:"pid"`
	Generation int       `json:"generation"`
	Started    time.Time `json:"started"`
	FD         int       `json:"fd"`
}

// Status values a child sends.
const (
	statusReady = "ready"
	statusError = "error"
	// statusSocket is a notice, not the final status: the child created
	// the unix socket file at Path (inode Ino). Sent only when the
	// handshake has report_sockets.
	statusSocket = "socket"
	// statusStandby is a notice, not the final status: a standby has
	// started and prepared what it inherited, and waits for its
	// activation.
	statusStandby = "standby"
)

// maxSocketNotices bounds the "socket" lines a parent takes from a child.
const maxSocketNotices = 4096

// statusMsg is a line a child writes on fdStatus: any number of "socket"
// notices, then one "ready" or "error".
type statusMsg struct {
	Status string `json:"status"`
	Pid    int    `json:"pid"`
	Error  string `json:"error,omitempty"`
	Path   string `json:"path,omitempty"`
	Ino    uint64 `json:"ino,omitempty"`
}

func writeStatus(w io.Writer, msg statusMsg) error {
	b, err := encodeStatus(msg)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// encodeStatus encodes msg as one line that fits maxStatusLine: a longer
// message is cut (escaping can make a byte six), so that the parent gets
// the start of it rather than a broken handshake.
func encodeStatus(msg statusMsg) ([]byte, error) {
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	if len(b) >= maxStatusLine {
		const suffix = " ... (cut)"
		msg.Error = strings.ToValidUTF8(msg.Error[:(maxStatusLine-256)/6], "") + suffix
		if b, err = json.Marshal(msg); err != nil {
			return nil, err
		}
	}
	return append(b, '\n'), nil
}

// statusReader reads a child's status lines, each at most maxStatusLine
// bytes.
type statusReader struct{ br *bufio.Reader }

func newStatusReader(r io.Reader) *statusReader {
	return &statusReader{bufio.NewReaderSize(r, maxStatusLine)}
}

// next reads one status line. io.EOF means the child closed its end
// (usually: it exited) without a word.
func (s *statusReader) next() (statusMsg, error) {
	line, err := s.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return statusMsg{}, io.EOF
		}
		if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
			return statusMsg{}, fmt.Errorf("reading status: no end of line within %d bytes", len(line))
		}
		return statusMsg{}, fmt.Errorf("reading status: %w", err)
	}
	var msg statusMsg
	if err := json.Unmarshal(line, &msg); err != nil {
		return statusMsg{}, fmt.Errorf("decoding status %.200q: %w", line, err)
	}
	switch msg.Status {
	case statusReady, statusError:
	case statusStandby:
	case statusSocket:
		if msg.Path == "" {
			return statusMsg{}, errors.New("socket notice without a path")
		}
	default:
		return statusMsg{}, fmt.Errorf("unknown status %.100q", msg.Status)
	}
	return msg, nil
}

// readStatus reads one status line.
func readStatus(r io.Reader) (statusMsg, error) { return newStatusReader(r).next() }

// readHandshake reads the parent's handshake when this process was
// started by an upgrade; it returns nil, nil, nil otherwise. A standby
// gets a document with Standby set and a wait for its activation.
//
// FLIPD_UPGRADE may also leak into an ordinary environment, so nothing is
// trusted before it is checked: fds 3 and 4 must be pipes, the document
// must arrive within handshakeTimeout, and it must name this process's
// parent. Until then fd 4 is never written to.
func readHandshake() (hs *handshake, wait *standbyWait, err error) {
	version := os.Getenv(envHandshake)
	if version == "" {
		return nil, nil, nil
	}
	// A child's own children (a shell it runs, say) must not mistake
	// themselves for a new generation.
	os.Unsetenv(envHandshake)
	if err := checkHandshakeFds(); err != nil {
		return nil, nil, fmt.Errorf("upgrade: %s=%s is set, but %w: it was not started by an upgrade (unset %[1]s)", envHandshake, version, err)
	}
	for _, fd := range []int{fdHandshake, fdStatus} {
		if err := adoptFd(fd); err != nil {
			return nil, nil, fmt.Errorf("upgrade: handshake: %w", err)
		}
	}
	trusted := true // the pipes are ours; the document decides below
	defer func() {
		if err != nil && trusted { // tell the parent why, so that its Upgrade says so
			writeStatus(statusFile(), statusMsg{Status: statusError, Pid: os.Getpid(), Error: err.Error()})
		}
	}()
	standby := version == standbyVersion && !refuseStandby
	if v, err := strconv.Atoi(version); !standby && (err != nil || v != protocolVersion) {
		os.NewFile(fdHandshake, "handshake").Close()
		return nil, nil, fmt.Errorf("upgrade: handshake: parent speaks version %q, this binary speaks %d", version, protocolVersion)
	}
	trusted = false
	setNonblock(fdHandshake) // so that the read deadline works
	in := os.NewFile(fdHandshake, "handshake")
	defer func() {
		if wait == nil {
			in.Close()
		}
	}()
	in.SetReadDeadline(time.Now().Add(handshakeTimeout))
	dec := json.NewDecoder(io.LimitReader(in, maxHandshake))
	hs, err = decodeHandshakeFrom(dec)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, nil, fmt.Errorf("upgrade: handshake: no handshake document within %s on fd %d: %s is set, but no parent writes", handshakeTimeout, fdHandshake, envHandshake)
	}
	if err == nil && hs.Standby != standby {
		err = fmt.Errorf("the document says standby=%v, %s says %q", hs.Standby, envHandshake, version)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("upgrade: handshake: %w", err)
	}
	if ppid := os.Getppid(); hs.ParentPid != ppid && processExists(hs.ParentPid) {
		// A parent killed mid-handshake leaves this process orphaned
		// (another parent pid) with a document naming a pid that is
		// gone: that child must still serve alone. A named pid that
		// exists and is not the parent is someone else's.
		return nil, nil, fmt.Errorf("upgrade: handshake: the document names parent_pid %d, which is not this process's parent (pid %d): descriptors not trusted", hs.ParentPid, ppid)
	}
	trusted = true
	for _, f := range hs.Files {
		if err := adoptFd(f.FD); err != nil {
			return nil, nil, fmt.Errorf("upgrade: handshake: %s: %w", f.fdKey, err)
		}
	}
	for _, d := range hs.Draining {
		if err := adoptFd(d.FD); err != nil {
			return nil, nil, fmt.Errorf("upgrade: handshake: generation %d: %w", d.Generation, err)
		}
	}
	if hs.Conns != nil {
		if err := adoptFd(hs.Conns.FD); err != nil {
			return nil, nil, fmt.Errorf("upgrade: handshake: connection channel: %w", err)
		}
	}
	if standby {
		in.SetReadDeadline(time.Time{}) // it waits as long as its parent wants
		wait = &standbyWait{in: in, dec: dec}
	}
	return hs, wait, nil
}

// refuseStandby makes this process act as a build from before standbys
// (tests set it): "standby-1" is no version it speaks.
var refuseStandby bool

// maxHandshake bounds the handshake document a child reads (a million
// descriptors' worth).
const maxHandshake = 64 << 20

// decodeHandshake reads and checks one handshake document. It checks what
// a child relies on: the version, and descriptor numbers above the
// handshake's own, each used once.
func decodeHandshake(r io.Reader) (*handshake, error) {
	return decodeHandshakeFrom(json.NewDecoder(io.LimitReader(r, maxHandshake)))
}

// decodeHandshakeFrom is decodeHandshake on a decoder, which a standby
// reads its activation from next.
func decodeHandshakeFrom(dec *json.Decoder) (*handshake, error) {
	hs := new(handshake)
	if err := dec.Decode(hs); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if hs.Version != protocolVersion {
		return nil, fmt.Errorf("document version %d, this binary speaks %d", hs.Version, protocolVersion)
	}
	if hs.Generation < 2 {
		return nil, fmt.Errorf("generation %d: a child is generation 2 or later", hs.Generation)
	}
	seen := make(map[int]bool)
	checkFd := func(fd int, what string) error {
		if fd <= fdStatus || seen[fd] {
			return fmt.Errorf("%s: descriptor %d is reserved or used twice", what, fd)
		}
		seen[fd] = true
		return nil
	}
	for _, f := range hs.Files {
		switch f.Kind {
		case kindListener, kindPacket, kindConn, kindFile:
		default:
			return nil, fmt.Errorf("file at descriptor %d: unknown kind %.50q", f.FD, f.Kind)
		}
		if err := checkFd(f.FD, f.fdKey.String()); err != nil {
			return nil, err
		}
	}
	for _, d := range hs.Draining {
		if err := checkFd(d.FD, "generation "+strconv.Itoa(d.Generation)); err != nil {
			return nil, err
		}
	}
	if hs.Conns != nil {
		if err := checkFd(hs.Conns.FD, "connection channel"); err != nil {
			return nil, err
		}
	}
	return hs, nil
}

// statusFile is where a child reports to its parent.
func statusFile() *os.File { return os.NewFile(fdStatus, "upgrade-status") }
