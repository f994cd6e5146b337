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
	// started is when this generation's engine started: in a new
	// process once upgrade.New has read the handshake, in a standby
	// once the reload reached it.
	started time.Time
	marks   []startupMark
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
// generation, from the request to the payload: parsing the config; its
// modules are provisioned to verify it during "start"), "start" (from the
// payload to this generation's engine start: the verification, then
// process start, Go runtime, package init and the handshake; or handing
// the reload to a standby, beside the verification),
// then each marked phase, and "since_request" up to the last mark. A
// phase whose ends are unknown is left out.
func (c *startupClock) fields() []any {
	var out []any
	add := func(key string, from, to time.Time) {
		if !from.IsZero() && !to.IsZero() {
			out = append(out, key, to.Sub(from).Round(time.Microsecond))
		}
	}
	add("validate", c.requested, c.sent)
	add("start", c.sent, c.started)
	prev := c.started
	for _, m := range c.marks {
		add(m.phase, prev, m.at)
		prev = m.at
	}
	if len(c.marks) > 0 {
		add("since_request", c.requested, c.marks[len(c.marks)-1].at)
	}
	return out
}
