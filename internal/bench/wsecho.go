package bench

import (
	"cmp"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// EchoConfig is the ws mode's backend: a WebSocket echo server and a TCP
// echo server on loopback, in a helper process of their own, behind the
// server under test.
type EchoConfig struct {
	// WSAddr and TCPAddr are where to listen; port 0 picks one.
	WSAddr  string `json:"ws_addr"`
	TCPAddr string `json:"tcp_addr"`
}

// EchoAddrs is what the echo helper says once it listens: "ready" and
// this, as JSON.
type EchoAddrs struct {
	WS  string `json:"ws"`
	TCP string `json:"tcp"`
}

// EchoResult is what the echo backend saw.
type EchoResult struct {
	WSConns  int `json:"ws_conns"`
	TCPConns int `json:"tcp_conns"`
}

// serveEcho echoes every WebSocket message and every TCP byte back until
// stop, then closes what is left.
func serveEcho(cfg EchoConfig, stop <-chan struct{}, say func(string)) (EchoResult, error) {
	var res EchoResult
	wsln, err := net.Listen("tcp", cmp.Or(cfg.WSAddr, "127.0.0.1:0"))
	if err != nil {
		return res, err
	}
	defer wsln.Close()
	tcpln, err := net.Listen("tcp", cmp.Or(cfg.TCPAddr, "127.0.0.1:0"))
	if err != nil {
		return res, err
	}
	defer tcpln.Close()

	var mu sync.Mutex
	open := map[io.Closer]bool{}
	track := func(c io.Closer, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			open[c] = true
		} else {
			delete(open, c)
		}
	}
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, CheckOrigin: func(*http.Request) bool { return true }}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade answered the client
		}
		mu.Lock()
		res.WSConns++
		mu.Unlock()
		track(c, true)
		defer track(c, false)
		defer c.Close()
		echoWS(c)
	})}
	go srv.Serve(wsln)
	go func() {
		for {
			c, err := tcpln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			res.TCPConns++
			mu.Unlock()
			track(c, true)
			go func() {
				defer track(c, false)
				defer c.Close()
				echoTCP(c)
			}()
		}
	}()
	addrs, _ := json.Marshal(EchoAddrs{WS: wsln.Addr().String(), TCP: tcpln.Addr().String()})
	say("ready " + string(addrs))
	<-stop
	srv.Close()
	tcpln.Close()
	mu.Lock()
	defer mu.Unlock()
	for c := range open {
		c.Close()
	}
	return res, nil
}

// echoWS sends each message back as it came, until the connection ends
// (gorilla's default close handler answers a close frame with its code).
func echoWS(c *websocket.Conn) {
	for {
		kind, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(kind, msg); err != nil {
			return
		}
	}
}

// echoTCP copies what it reads back; when the client has finished
// sending, it finishes too.
func echoTCP(c net.Conn) {
	io.Copy(c, c)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
