package drain_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/flipd/flipd/drain"
)

func ExampleServer() {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})}
	// A short grace keeps the example quick: the client below leaves its
	// connection idle, and the drain closes it after the grace.
	d := drain.New(srv, drain.Options{IdleGrace: 100 * time.Millisecond})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(ln) }()

	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body))

	// In a handover the new process is already serving the same socket.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("serve:", errors.Is(<-served, http.ErrServerClosed), "open:", d.OpenConns())
	// Output:
	// 200 OK hello
	// serve: true open: 0
}

func ExampleConns() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	var conns drain.Conns
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c = conns.Track(c)
			go func() {
				defer c.Close()
				io.Copy(c, c) // echo until the client closes
			}()
		}
	}()

	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	fmt.Fprint(client, "ping")
	buf := make([]byte, 4)
	io.ReadFull(client, buf)
	fmt.Println(string(buf))

	// Stop accepting, then give the connections a while to finish.
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	fmt.Println(conns.Drain(ctx))
	// Output:
	// ping
	// drain: closed 1 connection still open when the drain ended: context deadline exceeded
}

// Two servers in one process: the old one's idle keep-alive connection
// moves to the new one, which answers the client's next request on the
// same connection. Between processes, move would pass the connection's
// descriptor over a unix socket and the next process would call Adopt.
func ExampleServer_MoveIdle() {
	named := func(name string) *drain.Server {
		return drain.New(&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		})}, drain.Options{IdleGrace: 100 * time.Millisecond})
	}
	oldSrv, newSrv := named("old"), named("new")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go oldSrv.Serve(ln)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	get := func() {
		resp, err := client.Get("http://" + ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	get()

	oldSrv.MoveIdle(newSrv.Adopt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := oldSrv.Shutdown(ctx); err != nil { // at once: nothing left to drain
		log.Fatal(err)
	}
	get() // on the same connection
	fmt.Println("old:", oldSrv.OpenConns(), "new:", newSrv.OpenConns())
	newSrv.Shutdown(ctx)
	// Output:
	// old
	// new
	// old: 0 new: 1
}
