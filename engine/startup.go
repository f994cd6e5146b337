package engine

import "time"

// startupClock times a new generation's start-up, for its "serving"
// line: where a reload's time goes, measured by the two processes
// involved rather than inferred from outside. Each phase runs from the
// previous mark to its own.
type startupClock struct {
	// requested and sent come from the previous generation: when the
	// reload was asked for, and when its payload was made (the config
	// validated), just before the new process was started.
	requested, sent time.Time
	// started is this generation's engine start (after package init);
	// handshook is when upgrade.New had read the handshake.
	started, handshook time.Time
	marks              []startupMark
}

type startupMark struct {
	phase string
	at    time.Time
}

// mark ends phase now.
func (c *startupClock) mark(phase string) {
	c.marks = append(c.marks, startupMark{phase, time.Now()})
}

// fields are the phases as log key/value pairs: "validate" (in the old
// generation, from the request to the payload), "exec_init" (process
// start, Go runtime and package init), "handshake", then each marked
// phase, and "since_request" up to the last mark. A phase whose ends are
// unknown is left out.
func (c *startupClock) fields() []any {
	var out []any
	add := func(key string, from, to time.Time) {
		if !from.IsZero() && !to.IsZero() {
			out = append(out, key, to.Sub(from).Round(time.Microsecond))
		}
	}
	add("validate", c.requested, c.sent)
	add("exec_init", c.sent, c.started)
	add("handshake", c.started, c.handshook)
	prev := c.handshook
	if prev.IsZero() {
		prev = c.started
	}
	for _, m := range c.marks {
		add(m.phase, prev, m.at)
		prev = m.at
	}
	if len(c.marks) > 0 {
		add("since_request", c.requested, c.marks[len(c.marks)-1].at)
	}
	return out
}
