package bench

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Kind is what became of one request: [OK] or a kind of failure.
type Kind string

// The outcomes of a request. Failures are sorted by where they happen,
// from the connection to the answer.
const (
	OK           Kind = "ok"
	Refused      Kind = "refused"       // nobody listened: the connection was refused
	Reset        Kind = "reset"         // the server reset the connection (or a stream)
	EOF          Kind = "eof"           // the server closed the connection without an answer
	Timeout      Kind = "timeout"       // no answer within the client's timeout
	TLSHandshake Kind = "tls_handshake" // the TLS handshake failed
	BadStatus    Kind = "bad_status"    // an answer, but not 200 with one of the expected bodies
	Other        Kind = "other"         // anything else: read the example errors
)

// FailureKinds lists every failure kind in the order reports show them.
var FailureKinds = []Kind{Refused, Reset, EOF, Timeout, TLSHandshake, BadStatus, Other}

// Classify names the kind of failure err is. handshake says whether the
// request failed during a TLS handshake (httptrace knows); a nil err is
// [OK]. The checks go from the most specific to the least: a handshake
// cut by a reset is a TLS handshake failure, a refused dial is refused
// even though it is also a net.OpError.
func Classify(err error, handshake bool) Kind {
	if err == nil {
		return OK
	}
	var (
		recordErr *tls.RecordHeaderError
		alert     tls.AlertError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   *tls.CertificateVerificationError
	)
	msg := err.Error()
	switch {
	case handshake, errors.As(err, &recordErr), errors.As(err, &alert), errors.As(err, &unknownCA),
		errors.As(err, &hostErr), errors.As(err, &certErr), strings.Contains(msg, "tls: "):
		return TLSHandshake
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return Timeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		strings.Contains(msg, "stream error"), strings.Contains(msg, "RST_STREAM"):
		return Reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		// net/http's own words for a connection the server closed.
		strings.Contains(msg, "server closed idle connection"), strings.Contains(msg, "client connection lost"),
		strings.Contains(msg, "server sent GOAWAY and closed the connection"), strings.Contains(msg, "connection closed"):
		return EOF
	}
	return Other
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Sample is one request as the load generator saw it.
type Sample struct {
	// At is when the request was due, in Unix nanoseconds: a generator
	// that falls behind its schedule counts the wait in the latency, so
	// a stall of the server is not hidden by requests never sent.
	At      int64         `json:"at"`
	Latency time.Duration `json:"latency"`
	Kind    Kind          `json:"kind"`
	// Attempts is how often the client wrote the request or took a
	// connection for it: more than one means the client retried silently.
	Attempts int    `json:"attempts,omitempty"`
	Err      string `json:"err,omitempty"`
}

// Summary is what a run of requests comes to.
type Summary struct {
	Start    time.Time    `json:"start"`
	Requests int          `json:"requests"`
	OK       int          `json:"ok"`
	Failures map[Kind]int `json:"failures"`
	// Retries counts the extra attempts of requests that a client sent
	// twice: each one is a request that a server dropped, hidden by a
	// client that knew it could send it again.
	Retries int `json:"retries"`
	// Late counts requests the generator could not even start, because
	// every worker was busy: a server stall long enough to fill its queue.
	Late int `json:"late"`
	// Latency percentiles of the requests answered 200.
	P50  time.Duration `json:"p50"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p999"`
	Max  time.Duration `json:"max"`
	// Examples holds the first few error messages of each failure kind.
	Examples map[Kind][]string `json:"examples,omitempty"`
	Series   []Bucket          `json:"series"`
	// Conns is what became of the QUIC connections (ModeH3 only).
	Conns *QUICConnStats `json:"conns,omitempty"`
}

// Failed is the number of failed requests, of every kind.
func (s *Summary) Failed() int {
	n := 0
	for _, v := range s.Failures {
		n += v
	}
	return n
}

// Bucket is a slice of a run's time: the requests due in it.
type Bucket struct {
	T      time.Duration `json:"t"` // since Summary.Start
	N      int           `json:"n"`
	Failed int           `json:"failed"`
	P50    time.Duration `json:"p50"`
	P99    time.Duration `json:"p99"`
	Max    time.Duration `json:"max"`
}

// maxExamples bounds the error messages kept for each kind.
const maxExamples = 3

// Summarize reduces samples to their counts, latency percentiles and a
// time series with buckets of width bucket (none if bucket is 0).
func Summarize(samples []Sample, start time.Time, bucket time.Duration) Summary {
	s := Summary{Start: start, Failures: map[Kind]int{}, Examples: map[Kind][]string{}}
	var lat []time.Duration
	for _, x := range samples {
		s.Requests++
		if x.Attempts > 1 {
			s.Retries += x.Attempts - 1
		}
		if x.Kind == OK {
			s.OK++
			lat = append(lat, x.Latency)
			continue
		}
		s.Failures[x.Kind]++
		if len(s.Examples[x.Kind]) < maxExamples && x.Err != "" {
			s.Examples[x.Kind] = append(s.Examples[x.Kind], x.Err)
		}
	}
	slices.Sort(lat)
	s.P50, s.P99, s.P999 = Percentile(lat, 0.50), Percentile(lat, 0.99), Percentile(lat, 0.999)
	if len(lat) > 0 {
		s.Max = lat[len(lat)-1]
	}
	if bucket > 0 {
		s.Series = series(samples, start, bucket)
	}
	return s
}

// series cuts samples into buckets by when they were due.
func series(samples []Sample, start time.Time, width time.Duration) []Bucket {
	sorted := slices.Clone(samples)
	slices.SortFunc(sorted, func(a, b Sample) int { return cmp.Compare(a.At, b.At) })
	var out []Bucket
	for i := 0; i < len(sorted); {
		idx := time.Duration(sorted[i].At-start.UnixNano()) / width
		b := Bucket{T: idx * width}
		var lat []time.Duration
		for ; i < len(sorted) && time.Duration(sorted[i].At-start.UnixNano())/width == idx; i++ {
			b.N++
			if sorted[i].Kind != OK {
				b.Failed++
				continue
			}
			lat = append(lat, sorted[i].Latency)
		}
		slices.Sort(lat)
		b.P50, b.P99 = Percentile(lat, 0.50), Percentile(lat, 0.99)
		if len(lat) > 0 {
			b.Max = lat[len(lat)-1]
		}
		out = append(out, b)
	}
	return out
}

// Percentile is the nearest-rank percentile p (0 < p <= 1) of sorted: the
// smallest value that at least a fraction p of the values do not exceed.
// It is 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps 0.99*100 (99.00000000000001 in floating point)
	// at rank 99.
	rank := int(math.Ceil(p*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
