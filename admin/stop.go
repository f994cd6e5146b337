package admin

import "net/http"

// stopping is the answer to POST /stop.
type stopping struct {
	Stopping bool `json:"stopping"`
	Pid      int  `json:"pid"`
}

// handleStop is POST /stop: answer first, then drain and end the process.
// Stopping drains this server too, which waits for this very request, so
// the stop must start only once the answer is on its way.
func (s *Server) handleStop(w http.ResponseWriter, r *http.Request, body []byte) {
	if !emptyBody(body) {
		writeError(w, http.StatusBadRequest, "stop takes no body (or {})")
		return
	}
	w.Header().Set("Connection", "close")
	writeJSON(w, http.StatusAccepted, stopping{Stopping: true, Pid: s.b.Status().Pid})
	_ = http.NewResponseController(w).Flush()
	s.log.Info("stopping on request", "remote", r.RemoteAddr)
	go s.b.Stop()
}
