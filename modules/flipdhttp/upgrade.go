package flipdhttp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/flipd/flipd/internal/tunnel"
)

// Upgrade requests (WebSocket, and any other protocol a client switches
// to with "Connection: upgrade") are proxied here rather than by
// httputil.ReverseProxy, which copies an upgraded connection in
// goroutines nobody can pause or end cleanly. The proxy dials the
// upstream itself, forwards the request as it would any other, reads the
// answer and, on 101 Switching Protocols, takes the client's connection
// and runs a tunnel between the two (package tunnel): tracked by the
// server's drain, movable to the next generation, ended with a Close
// frame or a FIN when the drain's time runs out.

// isUpgrade reports whether r asks to switch protocols.
func isUpgrade(r *http.Request) bool {
	return r.ProtoMajor == 1 && r.Header.Get("Upgrade") != "" && hasToken(r.Header["Connection"], "upgrade")
}

// hasToken reports whether the comma-separated header values hold token,
// in any case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// hopHeaders are removed from what is forwarded (RFC 9110 §7.6.1), as
// httputil.ReverseProxy does.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopHeaders removes the hop-by-hop headers from h, and those that
// its Connection header names.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// outgoing is the request sent to the upstream up for r: what the
// proxy's rewrite makes of it, asking for the same protocol switch.
func (p *ReverseProxy) outgoing(r *http.Request, up string) *http.Request {
	pr := &httputil.ProxyRequest{In: r, Out: r.Clone(r.Context())}
	removeHopHeaders(pr.Out.Header)
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		pr.Out.Header.Del(h)
	}
	p.rewrite(pr)
	pr.Out.Header.Set("Connection", "Upgrade")
	pr.Out.Header.Set("Upgrade", r.Header.Get("Upgrade"))
	if _, ok := pr.Out.Header["User-Agent"]; !ok {
		pr.Out.Header["User-Agent"] = []string{""} // Request.Write adds none then
	}
	pr.Out.RequestURI = ""
	return pr.Out
}

// serveUpgrade proxies an Upgrade request to up.
func (p *ReverseProxy) serveUpgrade(w http.ResponseWriter, r *http.Request, up string) {
	out := p.outgoing(r, up)
	backend, err := p.dialer.DialContext(r.Context(), "tcp", up)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	// Until the upstream has answered, the client's leaving cancels it.
	stop := context.AfterFunc(r.Context(), func() { backend.SetDeadline(time.Now()) })
	br := bufio.NewReader(backend)
	resp, err := roundTrip(backend, br, out)
	if !stop() || err != nil {
		backend.Close()
		if err == nil {
			err = r.Context().Err()
		}
		p.fail(w, r, err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer backend.Close()
		p.relay(w, resp)
		return
	}
	defer resp.Body.Close()
	if want, got := r.Header.Get("Upgrade"), resp.Header.Get("Upgrade"); !strings.EqualFold(want, got) {
		backend.Close()
		p.fail(w, r, fmt.Errorf("upstream switched to protocol %q, the client asked for %q", got, want))
		return
	}
	p.tunnel(w, r, up, resp, backend, br)
}

// roundTrip writes req to c and reads the answer from br.
func roundTrip(c net.Conn, br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if err := req.Write(c); err != nil {
		return nil, fmt.Errorf("writing the upgrade request: %w", err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to the upgrade request: %w", err)
	}
	return resp, nil
}

// relay copies an answer that did not switch protocols to the client.
func (p *ReverseProxy) relay(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	removeHopHeaders(resp.Header)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		p.log.Debug("copying the answer to an upgrade request", "error", err)
	}
}

// tunnel takes the client's connection, sends it the upstream's 101
// answer, and copies both ways until the tunnel ends or moves.
func (p *ReverseProxy) tunnel(w http.ResponseWriter, r *http.Request, up string, resp *http.Response, backend net.Conn, br *bufio.Reader) {
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		backend.Close()
		p.fail(w, r, fmt.Errorf("taking the client connection for the upgrade: %w", err))
		return
	}
	if err := writeSwitch(client, resp); err != nil {
		client.Close()
		backend.Close()
		p.log.Debug("writing 101 to the client", "upstream", up, "error", err)
		return
	}
	framing := tunnel.Raw
	if strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		framing = tunnel.WebSocket
	}
	tun := tunnel.New(client, backend, tunnel.Options{
		Framing:         framing,
		ClientBuffered:  buffered(brw.Reader),
		BackendBuffered: buffered(br),
		Logger:          p.log,
	})
	p.log.Debug("upgrade tunnel open", "upstream", up, "protocol", resp.Header.Get("Upgrade"))
	tunnelsOf(r.Context()).run(tun, client, backend)
}

// writeSwitch writes the upstream's 101 answer, headers as they came.
func writeSwitch(c net.Conn, resp *http.Response) error {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\n", resp.Status)
	resp.Header.Write(&b)
	b.WriteString("\r\n")
	_, err := io.WriteString(c, b.String())
	return err
}

// buffered returns what br has read but not yet handed out.
func buffered(br *bufio.Reader) []byte {
	b, err := br.Peek(br.Buffered())
	if err != nil {
		return nil
	}
	return append([]byte(nil), b...)
}
