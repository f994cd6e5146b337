package admin

import "net/http"

// handleConfig is GET /config: the config in effect, as it was loaded.
func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) {
	raw := s.b.ConfigJSON()
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}
