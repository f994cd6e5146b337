package upgrade

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The connection channel, version 1: see "Moving connections" in the
// package documentation for the prose.
const (
	connsVersion = 1

	connMsgHello = 'H' // child to parent, before ready: the keys it adopts
	connMsgConn  = 'C' // parent to child, after ready: one moved connection
	connMsgEnd   = 'E' // parent to child: nothing more comes
)

// Bounds of the connection channel.
const (
	// MaxConnState bounds the state sent with a connection (Send fails
	// with a larger one). flipd.MaxMovedState is the same number.
	MaxConnState = 128 << 10
	// MaxConnKey bounds a key's length in bytes.
	MaxConnKey = 1024
	// MaxConnFds bounds the descriptors that move in one message.
	MaxConnFds = 8
	// maxConnMsg bounds one message on the channel: a connection's
	// header, key and state; a hello longer than that is refused.
	maxConnMsg = 2 + 2 + MaxConnKey + 4 + MaxConnState
)

// connMsg is one decoded message of the channel.
type connMsg struct {
	typ   byte
	keys  []string // hello
	key   string   // conn
	state []byte   // conn
}

var errConnMsgShort = errors.New("message ends early")

// encodeHello encodes the child's hello: the keys it adopts.
func encodeHello(keys []string) ([]byte, error) {
	b := []byte{connsVersion, connMsgHello}
	b = binary.BigEndian.AppendUint16(b, uint16(len(keys)))
	if len(keys) > 0xffff {
		return nil, fmt.Errorf("%d keys: at most %d", len(keys), 0xffff)
	}
	for _, k := range keys {
		if err := checkConnKey(k); err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
	}
	if len(b) > maxConnMsg {
		return nil, fmt.Errorf("the keys take %d bytes: at most %d", len(b), maxConnMsg)
	}
	return b, nil
}

// encodeConn encodes the header of one moved connection; its
// descriptors travel beside it (SCM_RIGHTS).
func encodeConn(key string, state []byte) ([]byte, error) {
	if err := checkConnKey(key); err != nil {
		return nil, err
	}
	if len(state) > MaxConnState {
		return nil, fmt.Errorf("state of %d bytes: at most %d", len(state), MaxConnState)
	}
	b := make([]byte, 0, 2+2+len(key)+4+len(state))
	b = append(b, connsVersion, connMsgConn)
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(state)))
	return append(b, state...), nil
}

func encodeEnd() []byte { return []byte{connsVersion, connMsgEnd} }

func checkConnKey(k string) error {
	if k == "" || len(k) > MaxConnKey {
		return fmt.Errorf("key of %d bytes: want 1 to %d", len(k), MaxConnKey)
	}
	return nil
}

// decodeConnMsg decodes one message that arrived with nfds descriptors.
// It checks everything a receiver relies on: the version, the type, the
// lengths (no byte left over), the bounds, and how many descriptors come
// with the type (none with a hello or an end, 1 to MaxConnFds with a
// connection).
func decodeConnMsg(b []byte, nfds int) (connMsg, error) {
	if len(b) < 2 {
		return connMsg{}, errConnMsgShort
	}
	if b[0] != connsVersion {
		return connMsg{}, fmt.Errorf("message version %d, this binary speaks %d", b[0], connsVersion)
	}
	m := connMsg{typ: b[1]}
	rest := b[2:]
	switch m.typ {
	case connMsgHello:
		if nfds != 0 {
			return connMsg{}, fmt.Errorf("hello with %d descriptors", nfds)
		}
		n, ok := takeUint16(&rest)
		if !ok {
			return connMsg{}, errConnMsgShort
		}
		for range n {
			k, err := takeKey(&rest)
			if err != nil {
				return connMsg{}, err
			}
			m.keys = append(m.keys, k)
		}
	case connMsgConn:
		if nfds < 1 || nfds > MaxConnFds {
			return connMsg{}, fmt.Errorf("connection with %d descriptors: want 1 to %d", nfds, MaxConnFds)
		}
		k, err := takeKey(&rest)
		if err != nil {
			return connMsg{}, err
		}
		m.key = k
		if len(rest) < 4 {
			return connMsg{}, errConnMsgShort
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if n > MaxConnState {
			return connMsg{}, fmt.Errorf("state of %d bytes: at most %d", n, MaxConnState)
		}
		if uint32(len(rest)) < n {
			return connMsg{}, errConnMsgShort
		}
		m.state, rest = rest[:n:n], rest[n:]
	case connMsgEnd:
		if nfds != 0 {
			return connMsg{}, fmt.Errorf("end with %d descriptors", nfds)
		}
	default:
		return connMsg{}, fmt.Errorf("unknown message type %#x", m.typ)
	}
	if len(rest) != 0 {
		return connMsg{}, fmt.Errorf("%d bytes after the message", len(rest))
	}
	return m, nil
}

func takeUint16(b *[]byte) (uint16, bool) {
	if len(*b) < 2 {
		return 0, false
	}
	n := binary.BigEndian.Uint16(*b)
	*b = (*b)[2:]
	return n, true
}

func takeKey(b *[]byte) (string, error) {
	n, ok := takeUint16(b)
	if !ok || len(*b) < int(n) {
		return "", errConnMsgShort
	}
	k := string((*b)[:n])
	*b = (*b)[n:]
	return k, checkConnKey(k)
}
