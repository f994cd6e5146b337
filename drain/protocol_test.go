package drain_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// TestProtocolDetection checks that the drain tells HTTP/1 connections,
// which it closes itself, from HTTP/2 ones, which it leaves to GOAWAY.
func TestProtocolDetection(t *testing.T) {
	cert, pool := selfSigned(t)
	h2c := new(http.Protocols)
	h2c.SetHTTP1(true)
	h2c.SetUnencryptedHTTP2(true)
	h2cOnly := new(http.Protocols)
	h2cOnly.SetUnencryptedHTTP2(true)

	tests := []struct {
		name      string
		tls       bool
		server    *http.Protocols
		client    func(tr *http.Transport)
		wantProto int
	}{
		{"http/1.1", false, nil, func(*http.Transport) {}, 1},
		{"http/1.1 to an h2c server", false, h2c, func(*http.Transport) {}, 1},
		{"h2c", false, h2c, func(tr *http.Transport) { tr.Protocols = h2cOnly }, 2},
		{"http/1.1 over tls", true, nil, func(*http.Transport) {}, 1},
		{"h2", true, nil, func(tr *http.Transport) { tr.ForceAttemptHTTP2 = true }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := listen(t)
			srv := &http.Server{Handler: echo, Protocols: tt.server}
			scheme := "http"
			if tt.tls {
				scheme = "https"
				srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
			}
			d := drain.New(srv, drain.Options{IdleGrace: 50 * time.Millisecond})
			go func() {
				if tt.tls {
					d.ServeTLS(ln, "", "")
				} else {
					d.Serve(ln)
				}
			}()
			t.Cleanup(func() { srv.Close() })

			tr := &http.Transport{}
			if tt.tls {
				tr.TLSClientConfig = &tls.Config{RootCAs: pool}
			}
			tt.client(tr)
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Post(scheme+"://"+ln.Addr().String()+"/", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != tt.wantProto {
				t.Fatalf("request used %s, want HTTP/%d", resp.Proto, tt.wantProto)
			}
			waitFor(t, "the connection to be classified", func() bool {
				return slices.Equal(d.Protocols(), []int{tt.wantProto})
			})
			tr.CloseIdleConnections()
			g := &generation{srv: srv, d: d}
			g.shutdown(t, 5*time.Second)
		})
	}
}

// TestIdleH2CGetsGoaway checks that an unencrypted HTTP/2 connection that
// never sent a request is left to GOAWAY, not closed as a silent HTTP/1
// connection.
func TestIdleH2CGetsGoaway(t *testing.T) {
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	ln := listen(t)
	srv := &http.Server{Handler: echo, Protocols: protos}
	const grace = 50 * time.Millisecond
	d := drain.New(srv, drain.Options{IdleGrace: grace})
	go d.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c := dialRaw(t, ln.Addr().String())
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	emptySettings := []byte{0, 0, 0, 4, 0, 0, 0, 0, 0}
	if _, err := io.WriteString(c, preface+string(emptySettings)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connection to be classified", func() bool {
		return slices.Equal(d.Protocols(), []int{2})
	})
	time.Sleep(2 * grace)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- d.Shutdown(ctx)
	}()
	const frameGoaway = 7
	var types []byte
	for {
		var header [9]byte
		if _, err := io.ReadFull(c.r, header[:]); err != nil {
			break
		}
		types = append(types, header[3])
		length := int64(header[0])<<16 | int64(header[1])<<8 | int64(header[2])
		if _, err := io.CopyN(io.Discard, c.r, length); err != nil {
			break
		}
	}
	if !slices.Contains(types, frameGoaway) {
		t.Errorf("connection closed after frames of types %v, without GOAWAY", types)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
