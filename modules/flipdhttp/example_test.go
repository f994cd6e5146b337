package flipdhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/flipd/flipd"
	_ "github.com/flipd/flipd/modules/flipdhttp"
)

// The runtime builds a listener module from its JSON, serves it on the
// listener's socket, and drains it when a new generation takes over.
// This does the same by hand.
func Example() {
	ctx, cleanup := flipd.NewContext(context.Background(), nil, "", 1)
	defer cleanup()

	mod, err := ctx.LoadModule("listeners", json.RawMessage(`{
		"module": "http",
		"routes": [
			{"match": {"path": "/api/*"}, "handle": {"module": "static_response", "status": 503, "body": "api down"}},
			{"handle": {"module": "static_response", "body": "hello"}}
		]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := mod.(flipd.ListenerModule)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	client := &http.Client{Transport: &http.Transport{}}
	for _, path := range []string{"/", "/api/users"} {
		resp, err := client.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode, string(body))
	}
	client.CloseIdleConnections()

	drainCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("drain:", srv.Drain(drainCtx))
	fmt.Println("serve:", <-served)
	// Output:
	// / 200 hello
	// /api/users 503 api down
	// drain: <nil>
	// serve: <nil>
}
