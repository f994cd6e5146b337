package admin

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/engine"
	"github.com/flipd/flipd/upgrade"
)

// errorBody is every error's answer. Field names the part of the config
// that was refused, when known.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// statusOf maps an error from the backend's Reload or Upgrade to the
// status that tells a client what happened and whether to retry.
func statusOf(err error) int {
	var (
		configErr   *flipd.ConfigError
		childErr    *upgrade.ChildError
		drainingErr *upgrade.DrainingError
	)
	switch {
	case errors.As(err, &configErr):
		return http.StatusBadRequest
	case errors.Is(err, upgrade.ErrUpgradeInProgress),
		errors.Is(err, upgrade.ErrAlreadyUpgraded),
		errors.Is(err, engine.ErrStopping),
		errors.As(err, &drainingErr):
		return http.StatusConflict
	case errors.As(err, &childErr):
		switch childErr.Reason {
		case upgrade.ReasonReported:
			// The new generation ran and refused the config (a port
			// taken, a certificate missing): the client's to fix.
			return http.StatusUnprocessableEntity
		case upgrade.ReasonStopped:
			return http.StatusServiceUnavailable
		}
		return http.StatusInternalServerError
	case errors.Is(err, upgrade.ErrTerminating):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// bodyOf is the JSON answer for err.
func bodyOf(err error) errorBody {
	body := errorBody{Error: err.Error()}
	var configErr *flipd.ConfigError
	if errors.As(err, &configErr) {
		body.Field = configErr.Field
	}
	return body
}

// writeBackendError answers with err from the backend.
func writeBackendError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), bodyOf(err))
}

// writeError answers {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encoding the answer: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
