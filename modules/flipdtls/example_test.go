package flipdtls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/flipd/flipd"

	_ "github.com/flipd/flipd/modules/flipdtls"
)

// A tls wrapper with a certificate from the internal CA, loaded as the
// runtime loads it for a listener, serving HTTP/2.
func Example() {
	storage, _ := os.MkdirTemp("", "flipd-tls-example")
	defer os.RemoveAll(storage)
	ctx, cleanup := flipd.NewContext(context.Background(), nil, storage, 1)
	defer cleanup()

	mod, err := ctx.LoadModule("listener_wrappers", json.RawMessage(`{"module": "tls", "internal": {"domains": ["localhost"]}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	// The runtime wraps the socket, then starts the modules: Start
	// makes the certificates ready.
	tln, err := mod.(flipd.ListenerWrapper).WrapListener(ln)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := mod.(flipd.Starter).Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer mod.(flipd.Stopper).Stop(ctx)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s", r.Proto)
	})}
	go srv.Serve(tln)
	defer srv.Close()

	// Clients trust the internal CA's root, kept in storage.
	root, _ := os.ReadFile(filepath.Join(storage, "tls", "internal_ca", "root.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
	defer client.CloseIdleConnections()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	resp, err := client.Get("https://localhost:" + port + "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: hello over HTTP/2.0
}
