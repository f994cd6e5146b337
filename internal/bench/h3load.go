package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// ModeH3 sends POSTs over a few long-lived HTTP/3 (QUIC) connections,
// with quic-go's client, to a listener with "http3": true and the tls
// wrapper. A QUIC connection is not a TCP connection the kernel hands
// over: its packets arrive on the one UDP socket every generation
// shares, so an upgrade keeps it alive only if the new generation
// forwards them to the old one (package quicroute). Besides the requests
// it counts the connections: opened, closed cleanly (after a GOAWAY, with
// H3_NO_ERROR, no request failed on them), lost. Not among the default
// modes.
const ModeH3 Mode = "h3"

// QUICConnStats is what became of a load generator's QUIC connections.
type QUICConnStats struct {
	// Opened counts the connections dialled, the first ones included.
	Opened int `json:"opened"`
	// DialFailed counts the dials that failed (their requests fail too).
	DialFailed int `json:"dial_failed"`
	// Closed counts the connections that ended before the end of the
	// run cleanly: closed with H3_NO_ERROR (by the draining server or by
	// the client after its GOAWAY), and no request failed on them.
	Closed int `json:"closed"`
	// Lost counts the connections that ended before the end of the run
	// any other way, by cause (see [ConnEnd]).
	Lost   int            `json:"lost"`
	LostBy map[string]int `json:"lost_by,omitempty"`
	// Open counts the connections still open at the end of the run.
	Open int `json:"open"`
	// GoawayRetries counts the requests sent again because quic-go's
	// client closed the connection itself (H3_NO_ERROR, local) when a
	// GOAWAY arrived as it opened the request's stream: the server never
	// saw them (quic-go v0.65.0; see cmd/flipd's HTTP/3 tests).
	GoawayRetries int `json:"goaway_retries"`
	// Examples holds the first few causes of lost connections.
	Examples []string `json:"examples,omitempty"`
}

// The causes of a lost connection, as [ConnEnd] names them.
const (
	EndClean          = "clean"
	EndIdleTimeout    = "idle_timeout"
	EndStatelessReset = "stateless_reset"
	EndAppError       = "application_error"
	EndTransportError = "transport_error"
	EndFailedRequests = "failed_requests" // closed cleanly, but requests failed on it
	EndOther          = "other"
)

// ConnEnd names how a QUIC connection ended: cause is its context's
// cause, failed the requests that failed on it. [EndClean] is a close
// with H3_NO_ERROR, by either side, that failed no request.
func ConnEnd(cause error, failed int) string {
	var (
		idle  *quic.IdleTimeoutError
		hs    *quic.HandshakeTimeoutError
		reset *quic.StatelessResetError
		app   *quic.ApplicationError
		tr    *quic.TransportError
	)
	switch {
	case errors.As(cause, &reset):
		return EndStatelessReset
	case errors.As(cause, &idle), errors.As(cause, &hs):
		return EndIdleTimeout
	case errors.As(cause, &app) && app.ErrorCode == quic.ApplicationErrorCode(http3.ErrCodeNoError):
		if failed > 0 {
			return EndFailedRequests
		}
		return EndClean
	case errors.As(cause, &app):
		return EndAppError
	case errors.As(cause, &tr):
		return EndTransportError
	}
	return EndOther
}

// ClassifyH3 names the kind of failure of an HTTP/3 request: QUIC's own
// errors first (a stateless reset is a reset, an idle timeout a timeout,
// a connection closed under the request an EOF, a crypto error a TLS
// handshake failure), then [Classify]'s.
func ClassifyH3(err error) Kind {
	if err == nil {
		return OK
	}
	var (
		reset  *quic.StatelessResetError
		idle   *quic.IdleTimeoutError
		hs     *quic.HandshakeTimeoutError
		tr     *quic.TransportError
		app    *quic.ApplicationError
		stream *quic.StreamError
		h3     *http3.Error
	)
	switch {
	case errors.As(err, &reset), errors.As(err, &stream):
		return Reset
	case errors.As(err, &idle), errors.As(err, &hs):
		return Timeout
	case errors.As(err, &tr) && tr.ErrorCode.IsCryptoError():
		return TLSHandshake
	case errors.As(err, &app), errors.As(err, &tr):
		return EOF
	case errors.As(err, &h3):
		return Reset // a stream (or the connection) ended with an HTTP/3 error code
	}
	return Classify(err, false)
}

// goawayRace recognises quic-go's client closing a connection itself
// (H3_NO_ERROR, local) when a GOAWAY arrives as it opens a request's
// stream: the request was never sent.
func goawayRace(err error) bool {
	var h3 *http3.Error
	return errors.As(err, &h3) && !h3.Remote && h3.ErrorCode == http3.ErrCodeNoError
}

// h3Conn is one QUIC connection a load generator dialled.
type h3Conn struct {
	failed int
	ended  time.Time
	cause  error
}

// h3Tracker keeps the load generator's QUIC connections by local
// address (each has its own UDP socket), so that a request's failure is
// put down to the connection that carried it.
type h3Tracker struct {
	mu         sync.Mutex
	byLocal    map[string]*h3Conn
	all        []*h3Conn
	dialFailed int
	retries    int
	wg         sync.WaitGroup
}

func newH3Tracker() *h3Tracker { return &h3Tracker{byLocal: map[string]*h3Conn{}} }

// dial is the http3.Transport's Dial: a connection on its own socket,
// watched until it ends.
func (t *h3Tracker) dial(ctx context.Context, addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, error) {
	c, err := quic.DialAddr(ctx, addr, tlsConf, conf)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.dialFailed++
		return nil, err
	}
	rec := &h3Conn{}
	t.byLocal[c.LocalAddr().String()] = rec
	t.all = append(t.all, rec)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		<-c.Context().Done()
		t.mu.Lock()
		rec.ended, rec.cause = time.Now(), context.Cause(c.Context())
		t.mu.Unlock()
	}()
	return c, nil
}

// failed puts a failed request down to the connection at local.
func (t *h3Tracker) failed(local string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.byLocal[local]; c != nil {
		c.failed++
	}
}

func (t *h3Tracker) retried() {
	t.mu.Lock()
	t.retries++
	t.mu.Unlock()
}

// stats sums up the connections: those that ended before end were
// closed or lost, the others were open at the end.
func (t *h3Tracker) stats(end time.Time) QUICConnStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := QUICConnStats{Opened: len(t.all), DialFailed: t.dialFailed, GoawayRetries: t.retries, LostBy: map[string]int{}}
	for _, c := range t.all {
		if c.ended.IsZero() || c.ended.After(end) {
			s.Open++
			continue
		}
		switch how := ConnEnd(c.cause, c.failed); how {
		case EndClean:
			s.Closed++
		default:
			s.Lost++
			s.LostBy[how]++
			if len(s.Examples) < maxExamples {
				s.Examples = append(s.Examples, fmt.Sprintf("%s: %v", how, c.cause))
			}
		}
	}
	return s
}

// runH3Load is RunLoad for ModeH3: cfg.Conns transports, each holding
// one connection at a time (a new one once the old is gone), shared by
// the workers in turn.
func runH3Load(cfg LoadConfig, stop <-chan struct{}) (Summary, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(cfg.CAPEM)) {
		return Summary{}, fmt.Errorf("load: no certificate in ca_pem")
	}
	tk := newH3Tracker()
	trs := make([]*http3.Transport, max(cfg.Conns, 1))
	for i := range trs {
		trs[i] = &http3.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			// A connection the server no longer reads dies within
			// the run, so that it is seen.
			QUICConfig: &quic.Config{MaxIdleTimeout: cfg.Timeout, KeepAlivePeriod: cfg.Timeout / 3},
			Dial:       tk.dial,
		}
	}
	workers := max(cfg.Workers, len(trs))
	s := schedule(cfg.Rate, workers, cfg.Duration, cfg.Bucket, stop, func(w int, due time.Time) Sample {
		return requestH3(trs[w%len(trs)], tk, cfg, due)
	})
	end := time.Now()
	for _, tr := range trs {
		tr.Close()
	}
	waited := make(chan struct{})
	go func() { tk.wg.Wait(); close(waited) }()
	select { // the connections end as their transports close
	case <-waited:
	case <-time.After(10 * time.Second):
	}
	stats := tk.stats(end)
	s.Conns = &stats
	return s, nil
}

// requestH3 sends one POST due at due over tr, once more if quic-go's
// client lost it to its own GOAWAY race, and says how it went.
func requestH3(tr *http3.Transport, tk *h3Tracker, cfg LoadConfig, due time.Time) Sample {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	var local string
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
	ctx = httptrace.WithClientTrace(ctx, trace)
	got, status, err := postH3(ctx, tr, cfg.URL)
	if goawayRace(err) {
		// Not a hidden failure (the request was never sent), so not
		// in Attempts: counted in QUICConnStats.GoawayRetries.
		tk.retried()
		got, status, err = postH3(ctx, tr, cfg.URL)
	}
	s := Sample{At: due.UnixNano(), Latency: time.Since(due)}
	switch {
	case err != nil:
		s.Kind, s.Err = ClassifyH3(err), err.Error()
	case status != http.StatusOK || !slices.Contains(cfg.Bodies, got):
		s.Kind, s.Err = BadStatus, fmt.Sprintf("%d: %.40q", status, got)
	default:
		s.Kind = OK
	}
	if s.Kind != OK && local != "" {
		tk.failed(local)
	}
	return s
}

func postH3(ctx context.Context, tr *http3.Transport, url string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("payload"))
	if err != nil {
		return "", 0, err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return string(b), resp.StatusCode, err
}
