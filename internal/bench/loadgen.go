package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how the load generator talks to the server.
type Mode string

// tls reports whether the mode speaks HTTPS.
func (m Mode) tls() bool { return m == ModeTLS || m == ModeTLSConn }

// keepsConns reports whether the mode keeps its connections open, one
// per worker.
func (m Mode) keepsConns() bool { return m == ModeKeepAlive || m == ModeTLS }

// The modes of the load-while-upgrading runs.
const (
	// ModeConn opens a new connection for every GET: the accept queue
	// and the hand-over of the listening socket are what is tested.
	ModeConn Mode = "conn"
	// ModeKeepAlive sends POSTs over long-lived HTTP/1.1 connections:
	// the drain of connections that outlive a generation is tested, and
	// a POST is not retried blindly, so a dropped one shows.
	ModeKeepAlive Mode = "keepalive"
	// ModeTLS sends POSTs over long-lived TLS connections: every upgrade
	// makes each of them reconnect, with a full handshake (no session
	// resumption).
	ModeTLS Mode = "tls"
	// ModeTLSConn opens a new TLS connection for every GET, a full
	// handshake each time, so that upgrades land in the middle of
	// handshakes. Not among the default modes: at 2,000 handshakes a
	// second two cores saturate, with any server.
	ModeTLSConn Mode = "tlsconn"
	// ModeH2 sends POSTs as HTTP/2 streams over a few cleartext
	// connections (h2c, prior knowledge): the drain is a GOAWAY.
	ModeH2 Mode = "h2"
)

// Modes lists the default modes, in the order reports show them.
var Modes = []Mode{ModeConn, ModeKeepAlive, ModeTLS, ModeH2}

// LoadConfig tells a load generator what to send.
type LoadConfig struct {
	Mode Mode   `json:"mode"`
	URL  string `json:"url"`
	// Rate is requests per second, sent on a fixed schedule whatever the
	// answers (an open loop).
	Rate int `json:"rate"`
	// Conns is the number of connections kept alive (ModeKeepAlive) or
	// multiplexed (ModeH2).
	Conns int `json:"conns"`
	// Workers bounds the requests in flight.
	Workers int `json:"workers"`
	// Duration bounds the run; the parent usually ends it sooner.
	Duration time.Duration `json:"duration"`
	// Timeout bounds one request.
	Timeout time.Duration `json:"timeout"`
	// Bodies are the answers expected (one per config of the server).
	Bodies []string `json:"bodies"`
	// CAPEM is the certificate the TLS server's must chain to.
	CAPEM string `json:"ca_pem,omitempty"`
	// Bucket is the width of the time series' buckets.
	Bucket time.Duration `json:"bucket"`
}

// method is what the mode sends: POST where a silent retry must not be
// possible, GET where a new connection per request makes retries moot.
func (m Mode) method() string {
	if m == ModeKeepAlive || m == ModeH2 || m == ModeTLS || m == ModeH3 {
		return http.MethodPost
	}
	return http.MethodGet
}

// clients builds one client per connection the mode keeps (or one for
// all, when every request has its own connection).
func clients(cfg LoadConfig) ([]*http.Client, error) {
	dialer := &net.Dialer{Timeout: cfg.Timeout}
	var roots *x509.CertPool
	if cfg.CAPEM != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(cfg.CAPEM)) {
			return nil, fmt.Errorf("load: no certificate in ca_pem")
		}
	}
	mk := func() *http.Transport {
		t := &http.Transport{
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   cfg.Timeout,
			ResponseHeaderTimeout: cfg.Timeout,
			MaxIdleConnsPerHost:   1,
			MaxConnsPerHost:       1,
			Protocols:             new(http.Protocols),
		}
		t.Protocols.SetHTTP1(true)
		return t
	}
	var out []*http.Client
	switch cfg.Mode {
	case ModeConn, ModeTLSConn:
		t := mk()
		t.DisableKeepAlives, t.MaxConnsPerHost = true, 0
		t.TLSClientConfig = &tls.Config{RootCAs: roots}
		out = append(out, &http.Client{Transport: t})
	case ModeKeepAlive, ModeTLS:
		for range max(cfg.Conns, 1) {
			t := mk()
			t.TLSClientConfig = &tls.Config{RootCAs: roots} // no session cache: full handshakes
			out = append(out, &http.Client{Transport: t})
		}
	case ModeH2:
		for range max(cfg.Conns, 1) {
			t := mk()
			t.Protocols = new(http.Protocols)
			t.Protocols.SetUnencryptedHTTP2(true)
			out = append(out, &http.Client{Transport: t})
		}
	default:
		return nil, fmt.Errorf("load: unknown mode %q", cfg.Mode)
	}
	return out, nil
}

// request sends one request due at due and says how it went.
func request(c *http.Client, cfg LoadConfig, due time.Time) Sample {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	var conns, writes atomic.Int32
	var handshakeErr atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn:      func(httptrace.GotConnInfo) { conns.Add(1) },
		WroteRequest: func(httptrace.WroteRequestInfo) { writes.Add(1) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				handshakeErr.Store(true)
			}
		},
	}
	var body io.Reader
	if cfg.Mode.method() == http.MethodPost {
		body = strings.NewReader("payload") // with GetBody: the client may resend it
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), cfg.Mode.method(), cfg.URL, body)
	if err != nil {
		return Sample{At: due.UnixNano(), Kind: Other, Err: err.Error()}
	}
	resp, err := c.Do(req)
	var got []byte
	if err == nil {
		got, err = io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
	s := Sample{At: due.UnixNano(), Latency: time.Since(due), Attempts: int(max(conns.Load(), writes.Load()))}
	switch {
	case err != nil:
		s.Kind, s.Err = Classify(err, handshakeErr.Load()), err.Error()
	case resp.StatusCode != http.StatusOK || !slices.Contains(cfg.Bodies, string(got)):
		s.Kind, s.Err = BadStatus, fmt.Sprintf("%s: %.40q", resp.Status, got)
	default:
		s.Kind = OK
	}
	return s
}

// RunLoad sends requests on cfg's schedule until cfg.Duration has passed
// or stop is closed, then waits for those in flight and sums them up.
// Each worker keeps to one client, so that a keep-alive mode has exactly
// cfg.Conns connections.
func RunLoad(cfg LoadConfig, stop <-chan struct{}) (Summary, error) {
	if cfg.Mode == ModeH3 {
		return runH3Load(cfg, stop)
	}
	cs, err := clients(cfg)
	if err != nil {
		return Summary{}, err
	}
	workers := max(cfg.Workers, len(cs))
	s := schedule(cfg.Rate, workers, cfg.Duration, cfg.Bucket, stop, func(w int, due time.Time) Sample {
		return request(cs[w%len(cs)], cfg, due)
	})
	for _, c := range cs {
		c.CloseIdleConnections()
	}
	return s, nil
}

// schedule calls do rate times a second, from workers goroutines, until
// duration has passed or stop is closed, and sums up what do returned.
// When every worker is busy and a second of requests is waiting, the
// next ones are not sent but counted as late.
func schedule(rate, workers int, duration, bucket time.Duration, stop <-chan struct{}, do func(worker int, due time.Time) Sample) Summary {
	jobs := make(chan time.Time, max(rate, 1))
	results := make([][]Sample, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for due := range jobs {
				results[w] = append(results[w], do(w, due))
			}
		}()
	}

	start := time.Now()
	period := time.Second / time.Duration(max(rate, 1))
	late := 0
	due := func(i int) time.Duration { return time.Duration(i) * period }
	// Bounded by duration: one request per period.
dispatch:
	for i := 0; due(i) < duration; {
		select {
		case <-stop:
			break dispatch
		default:
		}
		if wait := time.Until(start.Add(due(i))); wait > 0 {
			time.Sleep(wait)
			continue
		}
		// Everything due by now, in one go: sleeps are coarser than
		// the period at high rates.
		for now := time.Since(start); due(i) <= now && due(i) < duration; i++ {
			select {
			case jobs <- start.Add(due(i)):
			default:
				late++
			}
		}
	}
	close(jobs)
	wg.Wait()
	s := Summarize(slices.Concat(results...), start, bucket)
	s.Late = late
	return s
}
