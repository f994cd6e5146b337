package bench

import (
	"fmt"
	"strings"
	"time"
)

// Tolerances of the soak: how far the survivor may be above generation 1.
const (
	// SoakFDSlack is how many more open descriptors the survivor may
	// hold (the runtime opens a few lazily: an epoll, a timer fd).
	SoakFDSlack = 4
	// SoakGoroutineSlack is how many more goroutines it may run.
	SoakGoroutineSlack = 10
	// SoakRSSRatio and SoakRSSSlack bound its resident memory: at most
	// generation 1's times the ratio plus the slack (the heap of a
	// process that served load for a while settles higher than one
	// that served for two seconds; a leak grows with the upgrades).
	SoakRSSRatio = 1.5
	SoakRSSSlack = 16 << 20
)

// Figures are what one generation holds at rest.
type Figures struct {
	Generation int   `json:"generation"`
	Pid        int   `json:"pid"`
	FDs        int   `json:"fds"`
	Goroutines int   `json:"goroutines"`
	RSS        int64 `json:"rss"`
	// SupervisorPid and SupervisorRSS are the supervisor's in front of
	// the generations: its pid must not change.
	SupervisorPid int   `json:"supervisor_pid"`
	SupervisorRSS int64 `json:"supervisor_rss"`
	// Processes counts the server's processes alive: the supervisor and
	// every process below it (flipd generations and anything they
	// started).
	Processes int `json:"processes"`
}

// SoakResult is the outcome of a soak.
type SoakResult struct {
	Upgrades  int           `json:"upgrades"`
	Rate      int           `json:"rate"`
	Took      time.Duration `json:"took"`
	Machine   string        `json:"machine"`
	First     Figures       `json:"first"`
	Survivor  Figures       `json:"survivor"`
	Requests  int           `json:"requests"`
	Failed    int           `json:"failed"`
	Retries   int           `json:"retries"`
	Examples  []string      `json:"examples,omitempty"`
	FailedUps []string      `json:"failed_upgrades,omitempty"`
	// Left lists the processes below the benchmark, other than the
	// supervisor and the survivor, still alive at the end.
	Left []string `json:"left,omitempty"`
}

// soakRow is one line of the soak's table.
type soakRow struct {
	what, first, survivor, tolerance string
	ok                               bool
}

func (r *SoakResult) rows() []soakRow {
	f, s := r.First, r.Survivor
	rssLimit := int64(float64(f.RSS)*SoakRSSRatio) + SoakRSSSlack
	supLimit := int64(float64(f.SupervisorRSS)*SoakRSSRatio) + SoakRSSSlack
	left := "none"
	if len(r.Left) > 0 {
		left = strings.Join(r.Left, "; ")
	}
	failed := fmt.Sprintf("%d of %d", r.Failed, r.Requests)
	if r.Retries > 0 {
		failed += fmt.Sprintf(" (+%d client retries)", r.Retries)
	}
	return []soakRow{
		{"generation", fmt.Sprint(f.Generation), fmt.Sprint(s.Generation), fmt.Sprintf("%d upgrades later", r.Upgrades),
			s.Generation == f.Generation+r.Upgrades},
		{"open descriptors", fmt.Sprint(f.FDs), fmt.Sprint(s.FDs), fmt.Sprintf("+%d", SoakFDSlack), s.FDs <= f.FDs+SoakFDSlack},
		{"goroutines", fmt.Sprint(f.Goroutines), fmt.Sprint(s.Goroutines), fmt.Sprintf("+%d", SoakGoroutineSlack),
			s.Goroutines <= f.Goroutines+SoakGoroutineSlack},
		{"RSS", mib(f.RSS), mib(s.RSS), fmt.Sprintf("×%.1f + %s", SoakRSSRatio, mib(SoakRSSSlack)), s.RSS <= rssLimit},
		{"supervisor pid", fmt.Sprint(f.SupervisorPid), fmt.Sprint(s.SupervisorPid), "unchanged",
			f.SupervisorPid > 0 && s.SupervisorPid == f.SupervisorPid},
		{"supervisor RSS", mib(f.SupervisorRSS), mib(s.SupervisorRSS), fmt.Sprintf("×%.1f + %s", SoakRSSRatio, mib(SoakRSSSlack)),
			s.SupervisorRSS <= supLimit},
		{"flipd processes alive", fmt.Sprint(f.Processes), fmt.Sprint(s.Processes), "exactly 2: the supervisor, one generation",
			f.Processes == 2 && s.Processes == 2},
		{"other processes left", "", left, "none", len(r.Left) == 0},
		{"requests failed", "", failed, "0", r.Failed == 0 && r.Retries == 0 && r.Requests > 0},
		{"upgrades failed", "", fmt.Sprint(len(r.FailedUps)), "0", len(r.FailedUps) == 0},
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Markdown is the soak's table, for the README.
func (r *SoakResult) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d upgrades under %d requests/s (keep-alive POSTs and a new connection per GET) in %s; %s.\n\n",
		r.Upgrades, r.Rate, r.Took.Round(time.Second), r.Machine)
	b.WriteString("| | generation 1 | survivor | tolerance | |\n|---|---:|---:|---|---|\n")
	for _, row := range r.rows() {
		verdict := "ok"
		if !row.ok {
			verdict = "**over**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.what, row.first, row.survivor, row.tolerance, verdict)
	}
	return b.String()
}

// Failures lists what went beyond the tolerances: the soak fails if any.
func (r *SoakResult) Failures() []string {
	var out []string
	for _, row := range r.rows() {
		if !row.ok {
			out = append(out, fmt.Sprintf("%s: generation 1 %s, survivor %s (tolerance %s)", row.what, row.first, row.survivor, row.tolerance))
		}
	}
	if len(r.Examples) > 0 {
		out = append(out, "failed requests, for example: "+strings.Join(r.Examples[:min(len(r.Examples), 5)], "; "))
	}
	return append(out, r.FailedUps[:min(len(r.FailedUps), 5)]...)
}
