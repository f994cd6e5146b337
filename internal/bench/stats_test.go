package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	thousand := make([]int, 1000)
	for i := range thousand {
		thousand[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"median of even is the lower", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(hundred...), 1, 100 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 0.5, 50 * time.Millisecond},
		{"p99.9 of 1..1000", ms(thousand...), 0.999, 999 * time.Millisecond},
		{"p99.9 of 1..100 is the max", ms(hundred...), 0.999, 100 * time.Millisecond},
		{"tiny p is the min", ms(hundred...), 0.0001, 1 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Fatalf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(ms int) int64 { return start.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	samples := []Sample{
		{At: at(10), Latency: 1 * time.Millisecond, Kind: OK, Attempts: 1},
		{At: at(20), Latency: 3 * time.Millisecond, Kind: OK, Attempts: 2}, // retried once
		{At: at(30), Latency: 2 * time.Millisecond, Kind: OK},
		{At: at(150), Latency: 9 * time.Millisecond, Kind: Refused, Err: "connection refused"},
		{At: at(160), Latency: 5 * time.Millisecond, Kind: OK, Attempts: 3},
		{At: at(170), Latency: 8 * time.Millisecond, Kind: Reset, Err: "reset 1"},
		{At: at(180), Latency: 8 * time.Millisecond, Kind: Reset, Err: "reset 2"},
		{At: at(190), Latency: 8 * time.Millisecond, Kind: Reset, Err: "reset 3"},
		{At: at(195), Latency: 8 * time.Millisecond, Kind: Reset, Err: "reset 4"},
		{At: at(450), Latency: 4 * time.Millisecond, Kind: OK},
	}
	s := Summarize(samples, start, 100*time.Millisecond)
	if s.Requests != 10 || s.OK != 5 || s.Failed() != 5 {
		t.Fatalf("requests %d, ok %d, failed %d; want 10, 5, 5", s.Requests, s.OK, s.Failed())
	}
	if s.Failures[Refused] != 1 || s.Failures[Reset] != 4 {
		t.Fatalf("failures %v", s.Failures)
	}
	if s.Retries != 3 {
		t.Fatalf("retries %d, want 3 (one request sent twice, one three times)", s.Retries)
	}
	if len(s.Examples[Reset]) != maxExamples || s.Examples[Reset][0] != "reset 1" {
		t.Fatalf("examples %v: want the first %d", s.Examples[Reset], maxExamples)
	}
	// Latencies of the answered requests only: 1, 2, 3, 4, 5 ms.
	if s.P50 != 3*time.Millisecond || s.P99 != 5*time.Millisecond || s.Max != 5*time.Millisecond {
		t.Fatalf("p50 %v p99 %v max %v", s.P50, s.P99, s.Max)
	}
	want := []Bucket{
		{T: 0, N: 3, P50: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 3 * time.Millisecond},
		{T: 100 * time.Millisecond, N: 6, Failed: 5, P50: 5 * time.Millisecond, P99: 5 * time.Millisecond, Max: 5 * time.Millisecond},
		{T: 400 * time.Millisecond, N: 1, P50: 4 * time.Millisecond, P99: 4 * time.Millisecond, Max: 4 * time.Millisecond},
	}
	if fmt.Sprint(s.Series) != fmt.Sprint(want) {
		t.Fatalf("series\n%v\nwant\n%v", s.Series, want)
	}
}

func TestClassify(t *testing.T) {
	wrap := func(err error) error { // as net/http's client returns them
		return &url.Error{Op: "Post", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "read", Net: "tcp", Err: err}}
	}
	for _, tc := range []struct {
		name      string
		err       error
		handshake bool
		want      Kind
	}{
		{"nil", nil, false, OK},
		{"refused", &url.Error{Op: "Get", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, false, Refused},
		{"reset", wrap(os.NewSyscallError("read", syscall.ECONNRESET)), false, Reset},
		{"broken pipe", wrap(os.NewSyscallError("write", syscall.EPIPE)), false, Reset},
		{"h2 stream reset", errors.New("stream error: stream ID 3; REFUSED_STREAM"), false, Reset},
		{"EOF", &url.Error{Op: "Post", Err: io.EOF}, false, EOF},
		{"unexpected EOF", &url.Error{Op: "Post", Err: io.ErrUnexpectedEOF}, false, EOF},
		{"closed idle", &url.Error{Op: "Post", Err: errors.New("http: server closed idle connection")}, false, EOF},
		{"h2 connection lost", errors.New("http2: client connection lost"), false, EOF},
		{"deadline", &url.Error{Op: "Get", Err: context.DeadlineExceeded}, false, Timeout},
		{"i/o timeout", wrap(os.ErrDeadlineExceeded), false, Timeout},
		{"record header", &url.Error{Op: "Get", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}, false, TLSHandshake},
		{"unknown authority", &url.Error{Op: "Get", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, false, TLSHandshake},
		{"reset during a handshake", wrap(os.NewSyscallError("read", syscall.ECONNRESET)), true, TLSHandshake},
		{"EOF during a handshake", &url.Error{Op: "Get", Err: io.EOF}, true, TLSHandshake},
		{"other", errors.New("something else"), false, Other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err, tc.handshake); got != tc.want {
				t.Fatalf("Classify(%v, %v) = %s, want %s", tc.err, tc.handshake, got, tc.want)
			}
		})
	}
}

func TestCycleOrderKeepsTheComparedPairAdjacentAndAlternatesWhoLeads(t *testing.T) {
	for cycle, want := range [][]int{{0, 1, 2, 3}, {1, 0, 3, 2}, {0, 1, 2, 3}} {
		if got := cycleOrder(4, cycle); !slices.Equal(got, want) {
			t.Errorf("cycle %d: order %v, want %v", cycle, got, want)
		}
	}
	if got := cycleOrder(1, 1); !slices.Equal(got, []int{0}) {
		t.Errorf("one server: %v", got)
	}
	if got := cycleOrder(3, 1); !slices.Equal(got, []int{1, 0, 2}) {
		t.Errorf("three servers, odd cycle: %v, want [1 0 2]", got)
	}
}
