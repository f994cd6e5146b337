package drain

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// wrap returns a handler that records each connection's protocol and, once
// the server drains, asks HTTP/1 clients to close their connection.
func (d *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto := protoHTTP1
		if r.ProtoMajor == 2 {
			proto = protoHTTP2
		}
		ci, _ := r.Context().Value(connInfoKey{}).(*connInfo)
		if ci != nil && ci.proto.Load() == protoUnknown {
			ci.proto.Store(proto)
		}
		if proto == protoHTTP2 {
			// HTTP/2 has no "Connection" header: net/http's HTTP/2 server
			// takes "Connection: close" to mean its final GOAWAY. When the
			// HTTP/2 server is the drain's, the drain sends that itself,
			// after the shutdown notice has been answered: a final GOAWAY
			// any sooner would refuse the streams the client is sending.
			// This covers an HTTP/2 server that New could not reach.
			if d.h2 == nil && d.draining.Load() {
				w.Header().Set("Connection", "close")
			}
			next.ServeHTTP(w, r)
			return
		}
		var cw *closeWriter
		if ci != nil {
			cw = &ci.cw // no allocation: requests on a connection take turns
		} else {
			cw = new(closeWriter)
		}
		*cw = closeWriter{ResponseWriter: w, d: d}
		if ci != nil {
			cw.hc = ci.hc
		}
		next.ServeHTTP(cw, r)
		cw.finish()
	})
}

// closeWriter adds "Connection: close" to an HTTP/1 response if the server
// is draining when the response's header is written, which may be long
// after the handler started. net/http then closes the connection after
// the reply instead of keeping it for a request that would race the drain.
// While the server moves idle connections (MoveIdle), a connection that
// can move is kept open instead, and moves once idle.
type closeWriter struct {
	http.ResponseWriter
	d *Server
	// hc, if set, is the connection, which may stay open while draining
	// so that it moves to another server once idle (see keepAlive).
	hc *handoffConn

	wroteHeader bool
	hijacked    bool
}

// commit runs before the response's header is written with status code.
func (w *closeWriter) commit(code int) {
	if w.wroteHeader || (code >= 100 && code < 200 && code != http.StatusSwitchingProtocols) {
		return // informational responses precede the real one
	}
	w.wroteHeader = true
	if code != http.StatusSwitchingProtocols && w.d.draining.Load() && (w.hc == nil || !w.hc.keepAlive()) {
		w.Header().Set("Connection", "close")
	}
}

// finish covers a handler that returned without writing: net/http writes
// the header after it returns.
func (w *closeWriter) finish() {
	if !w.hijacked {
		w.commit(http.StatusOK)
	}
}

// WriteHeader implements [http.ResponseWriter].
func (w *closeWriter) WriteHeader(code int) {
	w.commit(code)
	w.ResponseWriter.WriteHeader(code)
}

// Write implements [http.ResponseWriter].
func (w *closeWriter) Write(p []byte) (int, error) {
	w.commit(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

// WriteString keeps net/http's allocation-free path for io.WriteString.
func (w *closeWriter) WriteString(s string) (int, error) {
	w.commit(http.StatusOK)
	return io.WriteString(w.ResponseWriter, s)
}

// ReadFrom keeps net/http's sendfile path for io.Copy into the response.
func (w *closeWriter) ReadFrom(r io.Reader) (int64, error) {
	w.commit(http.StatusOK)
	return io.Copy(w.ResponseWriter, r)
}

// Flush implements [http.Flusher].
func (w *closeWriter) Flush() {
	_ = w.FlushError()
}

// FlushError lets [http.ResponseController.Flush] report errors.
func (w *closeWriter) FlushError() error {
	w.commit(http.StatusOK)
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements [http.Hijacker]. The connection it returns is
// tracked until it is closed.
func (w *closeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.d.hijackStarted()
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		w.d.hijackDone(nil)
		return nil, nil, err
	}
	w.hijacked = true
	return w.d.hijackDone(c), rw, nil
}

// Unwrap lets [http.ResponseController] reach the underlying writer.
func (w *closeWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

var (
	_ http.Flusher    = (*closeWriter)(nil)
	_ http.Hijacker   = (*closeWriter)(nil)
	_ io.ReaderFrom   = (*closeWriter)(nil)
	_ io.StringWriter = (*closeWriter)(nil)
)
