package admin

import (
	"fmt"
	"net/http"

	"github.com/flipd/flipd/engine"
)

// stopping is the answer to POST /stop.
type stopping struct {
	Stopping bool `json:"stopping"`
	Pid      int  `json:"pid"`
}

// handleStop is POST /stop: answer first, then drain and end the process.
// Stopping drains this server too, which waits for this very request, so
// the stop must start only once the answer is on its way.
//
// A generation that has handed over refuses with 409, as /load does: it
// would answer 202 and drain, which it does anyway, while the new
// generation served on. A client reaches it through a connection it kept
// alive from before the handover.
func (s *Server) handleStop(w http.ResponseWriter, r *http.Request, body []byte) {
	if !emptyBody(body) {
		writeError(w, http.StatusBadRequest, "stop takes no body (or {})")
		return
	}
	if why, ok := s.handedOver(); ok {
		w.Header().Set("Connection", "close") // the next request reaches the one that serves
		writeError(w, http.StatusConflict, why)
		return
	}
	s.stopping.Store(true)
	w.Header().Set("Connection", "close")
	writeJSON(w, http.StatusAccepted, stopping{Stopping: true, Pid: s.b.Status().Pid})
	_ = http.NewResponseController(w).Flush()
	s.log.Info("stopping on request", "remote", r.RemoteAddr)
	go s.stopOnce.Do(s.b.Stop)
}

// handedOver says whether this generation no longer serves because a
// newer one took over, and what to tell the client. A generation that
// drains after a stop has not handed over; one that drains without a
// stop through this server has (or was stopped by a signal: it cannot
// tell, and a stop is then no use either).
func (s *Server) handedOver() (string, bool) {
	if next := s.successor.Load(); next != nil {
		return fmt.Sprintf("already handed over to generation %d (pid %d): this one drains and exits; send /stop to the generation that serves", next.Generation, next.Pid), true
	}
	if s.stopping.Load() {
		return "", false
	}
	if st := s.b.Status(); st.State == engine.StateDraining {
		return fmt.Sprintf("generation %d (pid %d) has already handed over to a newer generation, or is stopping: it drains and exits; send /stop to the generation that serves", st.Generation, st.Pid), true
	}
	return "", false
}
