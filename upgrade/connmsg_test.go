package upgrade

import (
	"bytes"
	"strings"
	"testing"
)

func TestConnMessagesDecodeToWhatWasEncoded(t *testing.T) {
	hello, err := encodeHello([]string{"a", "tcp/127.0.0.1:7000 listeners.tcp echo"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeConnMsg(hello, 0)
	if err != nil || m.typ != connMsgHello || len(m.keys) != 2 || m.keys[1] != "tcp/127.0.0.1:7000 listeners.tcp echo" {
		t.Fatalf("hello: %+v, %v", m, err)
	}
	state := bytes.Repeat([]byte{7}, MaxConnState)
	conn, err := encodeConn("k", state)
	if err != nil {
		t.Fatal(err)
	}
	if m, err = decodeConnMsg(conn, 2); err != nil || m.typ != connMsgConn || m.key != "k" || !bytes.Equal(m.state, state) {
		t.Fatalf("conn: %v", err)
	}
	if m, err = decodeConnMsg(encodeEnd(), 0); err != nil || m.typ != connMsgEnd {
		t.Fatalf("end: %+v, %v", m, err)
	}
}

func TestConnMessagesOutOfBoundsAreRefused(t *testing.T) {
	if _, err := encodeConn("k", make([]byte, MaxConnState+1)); err == nil {
		t.Error("a state over the bound encodes")
	}
	if _, err := encodeConn("", nil); err == nil {
		t.Error("an empty key encodes")
	}
	if _, err := encodeHello([]string{strings.Repeat("k", MaxConnKey+1)}); err == nil {
		t.Error("a key over the bound encodes")
	}
	conn, _ := encodeConn("k", []byte("state"))
	for name, tc := range map[string]struct {
		b    []byte
		nfds int
	}{
		"a connection without a descriptor":        {conn, 0},
		"a connection with too many":               {conn, MaxConnFds + 1},
		"a connection cut short":                   {conn[:len(conn)-1], 1},
		"a connection with a byte too many":        {append(conn, 0), 1},
		"an end with a descriptor":                 {encodeEnd(), 1},
		"another version":                          {[]byte{2, connMsgEnd}, 0},
		"an unknown type":                          {[]byte{connsVersion, 'X'}, 0},
		"an empty message":                         {nil, 0},
		"a hello that names more keys than it has": {[]byte{connsVersion, connMsgHello, 0, 2, 0, 1, 'a'}, 0},
	} {
		if _, err := decodeConnMsg(tc.b, tc.nfds); err == nil {
			t.Errorf("%s decodes", name)
		}
	}
}

func FuzzDecodeConnMsg(f *testing.F) {
	hello, _ := encodeHello([]string{"a", "b"})
	conn, _ := encodeConn("key", []byte("state"))
	f.Add(hello, 0)
	f.Add(conn, 1)
	f.Add(encodeEnd(), 0)
	f.Fuzz(func(t *testing.T, b []byte, nfds int) {
		m, err := decodeConnMsg(b, nfds)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		var again []byte
		switch m.typ {
		case connMsgHello:
			again, err = encodeHello(m.keys)
		case connMsgConn:
			again, err = encodeConn(m.key, m.state)
		case connMsgEnd:
			again = encodeEnd()
		}
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded %+v does not re-encode to its bytes: %v", m, err)
		}
	})
}

func TestAHandshakeNamesItsConnectionChannelAtADescriptorOfItsOwn(t *testing.T) {
	doc := `{"version": 1, "generation": 2, "parent_pid": 1, "files": [{"kind": "listener", "network": "tcp", "addr": "127.0.0.1:1", "fd": 6}],
		"draining": [{"pid": 1, "generation": 1, "fd": 5}], "conns": {"version": 1, "fd": %s}}`
	hs, err := decodeHandshake(strings.NewReader(strings.Replace(doc, "%s", "7", 1)))
	if err != nil || hs.Conns == nil || hs.Conns.FD != 7 || hs.Conns.Version != connsVersion {
		t.Fatalf("%+v, %v", hs, err)
	}
	for _, fd := range []string{"6", "4", "5"} {
		if _, err := decodeHandshake(strings.NewReader(strings.Replace(doc, "%s", fd, 1))); err == nil {
			t.Errorf("a channel at descriptor %s, reserved or used, is accepted", fd)
		}
	}
}
