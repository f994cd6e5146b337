package drain

import (
	"io"
	"net"
	"net/http"
	"testing"
)

// BenchmarkRequest measures what the drain adds to each keep-alive
// request while not draining: the hooks and the response wrapper.
func BenchmarkRequest(b *testing.B) {
	for _, withDrain := range []bool{false, true} {
		name := "bare"
		if withDrain {
			name = "drain"
		}
		b.Run(name, func(b *testing.B) {
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello")
			})}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			if withDrain {
				go New(srv, Options{}).Serve(ln)
			} else {
				go srv.Serve(ln)
			}
			defer srv.Close()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			url := "http://" + ln.Addr().String() + "/"
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
