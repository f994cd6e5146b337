package quicroute_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/flipd/flipd/quicroute"
	"github.com/flipd/flipd/upgrade"
)

// An HTTP/3 server whose connections live on in their generation after an
// upgrade, until they finish.
func Example() {
	upg, err := upgrade.New(upgrade.Options{})
	if err != nil {
		panic(err)
	}
	defer upg.Stop()
	r, err := quicroute.New(upg, "udp", "127.0.0.1:8443", quicroute.Options{})
	if err != nil {
		panic(err)
	}
	tlsConf := &tls.Config{ /* Certificates, */ NextProtos: []string{http3.NextProtoH3}}
	ln, err := r.Transport().ListenEarly(tlsConf, &quic.Config{})
	if err != nil {
		panic(err)
	}
	srv := &http3.Server{Handler: http.NotFoundHandler()}
	go srv.ServeListener(ln)
	if err := upg.Ready(); err != nil {
		panic(err)
	}
	<-upg.Exit() // upgraded
	r.HandOver() // the next generation reads the socket: ours are forwarded here
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(ctx) // GOAWAY, then wait for the streams
	ln.Close()
	r.Close()
}
