package upgrade

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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
)

// statusMsg is the one line a child writes on fdStatus.
type statusMsg struct {
	Status string `json:"status"`
	Pid    int    `json:"pid"`
	Error  string `json:"error,omitempty"`
}

func writeStatus(w io.Writer, msg statusMsg) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// readStatus reads the child's status line. io.EOF means the child closed
// its end (usually: it exited) without a word.
func readStatus(r io.Reader) (statusMsg, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxStatusLine), 4096).ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return statusMsg{}, io.EOF
		}
		return statusMsg{}, fmt.Errorf("reading status: %w", err)
	}
	var msg statusMsg
	if err := json.Unmarshal(line, &msg); err != nil {
		return statusMsg{}, fmt.Errorf("decoding status %q: %w", line, err)
	}
	if msg.Status != statusReady && msg.Status != statusError {
		return statusMsg{}, fmt.Errorf("unknown status %q", msg.Status)
	}
	return msg, nil
}

// readHandshake reads the parent's handshake when this process was
// started by an upgrade; it returns nil, nil otherwise.
func readHandshake() (hs *handshake, err error) {
	version := os.Getenv(envHandshake)
	if version == "" {
		return nil, nil
	}
	// A child's own children (a shell it runs, say) must not mistake
	// themselves for a new generation.
	os.Unsetenv(envHandshake)
	for _, fd := range []int{fdHandshake, fdStatus} {
		if err := adoptFd(fd); err != nil {
			return nil, fmt.Errorf("upgrade: handshake: %w", err)
		}
	}
	defer func() {
		if err != nil { // tell the parent why, so that its Upgrade says so
			writeStatus(statusFile(), statusMsg{Status: statusError, Pid: os.Getpid(), Error: err.Error()})
		}
	}()
	if v, err := strconv.Atoi(version); err != nil || v != protocolVersion {
		os.NewFile(fdHandshake, "handshake").Close()
		return nil, fmt.Errorf("upgrade: handshake: parent speaks version %q, this binary speaks %d", version, protocolVersion)
	}
	in := os.NewFile(fdHandshake, "handshake")
	defer in.Close()
	hs = new(handshake)
	if err := json.NewDecoder(in).Decode(hs); err != nil {
		return nil, fmt.Errorf("upgrade: handshake: decoding: %w", err)
	}
	if hs.Version != protocolVersion {
		return nil, fmt.Errorf("upgrade: handshake: document version %d, this binary speaks %d", hs.Version, protocolVersion)
	}
	for _, f := range hs.Files {
		if err := adoptFd(f.FD); err != nil {
			return nil, fmt.Errorf("upgrade: handshake: %s: %w", f.fdKey, err)
		}
	}
	for _, d := range hs.Draining {
		if err := adoptFd(d.FD); err != nil {
			return nil, fmt.Errorf("upgrade: handshake: generation %d: %w", d.Generation, err)
		}
	}
	return hs, nil
}

// statusFile is where a child reports to its parent.
func statusFile() *os.File { return os.NewFile(fdStatus, "upgrade-status") }
