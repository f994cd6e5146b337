package admin

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flipd/flipd/engine"
)

// ndjson is the media type of the progress stream.
const ndjson = "application/x-ndjson"

// handleLoad is POST /load: the body is the whole new config.
func (s *Server) handleLoad(w http.ResponseWriter, r *http.Request, body []byte) {
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		writeError(w, http.StatusBadRequest, "empty body: POST the whole config as JSON")
		return
	case !json.Valid(body):
		writeError(w, http.StatusBadRequest, "the body is not valid JSON")
		return
	}
	s.reload(w, r, func(opts engine.ReloadOptions) (engine.ReloadResult, error) {
		return s.b.Reload(body, opts)
	})
}

// handleUpgrade is POST /upgrade: re-execute with the config in effect.
func (s *Server) handleUpgrade(w http.ResponseWriter, r *http.Request, body []byte) {
	if !emptyBody(body) {
		writeError(w, http.StatusBadRequest, "upgrade takes no body (or {}): it keeps the config in effect; POST /load to change it")
		return
	}
	s.reload(w, r, s.b.Upgrade)
}

// reload runs a reload and answers with its result, streaming its
// progress if the client asked for it. It answers only once the new
// generation serves, or failed to.
func (s *Server) reload(w http.ResponseWriter, r *http.Request, run func(engine.ReloadOptions) (engine.ReloadResult, error)) {
	// The read timeout covers reading the request; waiting for the new
	// generation may take up to upgrade.timeout.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})

	opts := engine.ReloadOptions{Source: "api"}
	var stream *progressStream
	if acceptsNDJSON(r) {
		stream = &progressStream{w: w}
		opts.Progress = stream.progress
	}
	res, err := run(opts)
	if err == nil {
		s.successor.Store(&res)
	}
	if stream != nil && stream.finish() {
		stream.last(res, err)
		return
	}
	if err != nil {
		writeBackendError(w, err)
		return
	}
	// This generation no longer serves: a request kept alive on this
	// connection would reach it, and not the new one.
	w.Header().Set("Connection", "close")
	answerNow(w, res)
}

// answerNow writes a reload's result and sends it at once, with its
// length (so not chunked): the client waits for it, and what this
// generation still does with the request (log it) is not part of the
// round trip.
func answerNow(w http.ResponseWriter, res engine.ReloadResult) {
	b, err := json.Marshal(res)
	if err != nil {
		writeJSON(w, http.StatusOK, res) // which says why it cannot
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	_ = http.NewResponseController(w).Flush()
}

// progressStream writes a reload's progress as JSON lines. The status and
// headers go out with the first line, so that a reload refused before
// any progress (an invalid config) is answered with its own status.
type progressStream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	started bool
	done    bool
}

// progress writes one step; it may be called from any goroutine.
func (p *progressStream) progress(ev engine.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	if !p.started {
		p.started = true
		p.w.Header().Set("Content-Type", ndjson)
		p.w.WriteHeader(http.StatusOK)
	}
	p.line(map[string]any{"progress": ev})
}

// finish ends the progress and reports whether any was written.
func (p *progressStream) finish() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	return p.started
}

// last writes the final line: the result, or the error with the status
// it would have had, since the real status (200) is already sent.
func (p *progressStream) last(res engine.ReloadResult, err error) {
	if err != nil {
		body := bodyOf(err)
		p.line(struct {
			errorBody
			Status int `json:"status"`
		}{body, statusOf(err)})
		return
	}
	p.line(map[string]any{"result": res})
}

func (p *progressStream) line(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(errorBody{Error: "encoding progress: " + err.Error()})
	}
	_, _ = p.w.Write(append(b, '\n'))
	_ = http.NewResponseController(p.w).Flush()
}

// acceptsNDJSON reports whether the client asked for the progress stream.
func acceptsNDJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == ndjson {
				return true
			}
		}
	}
	return false
}

// emptyBody reports whether body is empty, or an empty JSON object.
func emptyBody(body []byte) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return true
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(body, &m) == nil && m != nil && len(m) == 0
}
