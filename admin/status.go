package admin

import (
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/engine"
	"github.com/flipd/flipd/supervisor"
)

// statusBody is the answer to GET /status.
type statusBody struct {
	// Generations lists every live generation, newest first: the one that
	// answered, then the older ones still draining.
	Generations []generationStatus `json:"generations"`
	// Upgrades are the most recent reloads, oldest first.
	Upgrades []engine.UpgradeRecord `json:"upgrades"`
	// SupervisorPID is the pid of the supervisor in front of the
	// generations (flipd run, flipd supervise): the one pid that stays
	// the same across reloads. Absent in the chain model.
	SupervisorPID int `json:"supervisor_pid,omitempty"`
	// MovedConns counts the established connections that moved to a new
	// generation on a reload instead of draining, since flipd started.
	MovedConns uint64 `json:"moved_conns"`
	// Standby is the process the next reload takes (upgrade.standby), if
	// there is one: started, not serving.
	Standby *engine.StandbyGeneration `json:"standby,omitempty"`
}

// generationStatus is one live generation.
type generationStatus struct {
	Generation int            `json:"generation"`
	Pid        int            `json:"pid"`
	State      engine.State   `json:"state"`
	Started    time.Time      `json:"started"`
	Uptime     flipd.Duration `json:"uptime"`
	// OpenConns is known only for the generation that answered: the
	// others are other processes.
	OpenConns *int `json:"open_conns,omitempty"`
	// OpenSessions counts the udp listeners' sessions (a proxy's, one per
	// client), known only for the generation that answered.
	OpenSessions  *int      `json:"open_sessions,omitempty"`
	DrainingSince time.Time `json:"draining_since,omitzero"`
	// Source is where the config came from ("api", "file:..."), for the
	// generation that answered.
	Source string `json:"source,omitempty"`
	// PIDFileError says why the generation that answered could not
	// write the PID file; it serves anyway.
	PIDFileError string `json:"pid_file_error,omitempty"`
}

// handleStatus is GET /status.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, buildStatus(s.b.Status(), s.b.Stats(), time.Now()))
}

func buildStatus(st engine.Status, stats engine.Stats, now time.Time) statusBody {
	conns, sessions := st.OpenConns, st.OpenSessions
	body := statusBody{
		Generations: []generationStatus{{
			Generation:    st.Generation,
			Pid:           st.Pid,
			State:         st.State,
			Started:       st.Started,
			Uptime:        st.Uptime,
			OpenConns:     &conns,
			OpenSessions:  &sessions,
			DrainingSince: st.DrainingSince,
			Source:        st.Source,
			PIDFileError:  st.PIDFileError,
		}},
		Upgrades:      stats.History,
		SupervisorPID: supervisorPID(),
		MovedConns:    stats.MovedConns,
		Standby:       st.Standby,
	}
	if body.Upgrades == nil {
		body.Upgrades = []engine.UpgradeRecord{}
	}
	older := slices.Clone(st.Older)
	slices.SortFunc(older, func(a, b engine.OlderGeneration) int { return b.Generation - a.Generation })
	newer := st.Started // when the generation after older[i] started
	for _, o := range older {
		state := o.State
		if state == "" {
			state = engine.StateDraining
		}
		body.Generations = append(body.Generations, generationStatus{
			Generation:    o.Generation,
			Pid:           o.Pid,
			State:         state,
			Started:       o.Started,
			Uptime:        flipd.Duration(now.Sub(o.Started).Round(time.Millisecond)),
			DrainingSince: drainingSince(o.Generation, stats.History, newer),
		})
		newer = o.Started
	}
	return body
}

// supervisorPID is the pid the supervisor named in the environment it gave
// generation 1 (every later generation inherits it), or 0.
func supervisorPID() int {
	pid, err := strconv.Atoi(os.Getenv(supervisor.PIDEnv))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// drainingSince is when generation gen handed over: when the upgrade to
// the next one succeeded, or failing a record of it (history is bounded),
// when the next one started.
func drainingSince(gen int, history []engine.UpgradeRecord, nextStarted time.Time) time.Time {
	for _, u := range slices.Backward(history) {
		if u.From == gen && u.Result == "ok" {
			return u.Started.Add(time.Duration(u.Duration))
		}
	}
	return nextStarted
}
