package quicroute

import "sync/atomic"

// counts are a router's packet counts by kind, for its debug logs: which
// generation got what, and why a packet went nowhere.
type counts struct {
	localLong       atomic.Uint64 // long headers (Initial, Handshake, 0-RTT) into this Transport, from the socket
	localShort      atomic.Uint64 // short headers into this Transport, from the socket
	fwdOlder        atomic.Uint64 // forwarded to an older generation
	fwdNewer        atomic.Uint64 // forwarded to a newer one (while both read the socket)
	fromLink        atomic.Uint64 // forwarded here by another generation
	initialsToChild atomic.Uint64 // new connections passed to the next generation as it starts
	dropMalform     atomic.Uint64 // empty, truncated, cut, or an ID that is no generation's
	dropNoLink      atomic.Uint64 // for a generation with no link here (exited, or unknown)
	dropNoFwd       atomic.Uint64 // forwarding is off
	dropLinkFull    atomic.Uint64 // the link's queue was full
	dropLinkGone    atomic.Uint64 // the generation at the link's end has exited
	dropQueue       atomic.Uint64 // this Transport's queue was full
	dropNotMine     atomic.Uint64 // forwarded here, but not this generation's
}

// sendFailed counts a send on a link that failed.
func (c *counts) sendFailed(err error) {
	if linkFull(err) {
		c.dropLinkFull.Add(1)
		return
	}
	c.dropLinkGone.Add(1)
}

// logArgs are the counts as hclog key/value pairs.
func (c *counts) logArgs() []any {
	return []any{
		"local_long", c.localLong.Load(), "local_short", c.localShort.Load(),
		"forwarded_older", c.fwdOlder.Load(), "forwarded_newer", c.fwdNewer.Load(), "from_links", c.fromLink.Load(),
		"initials_to_child", c.initialsToChild.Load(),
		"dropped_malformed", c.dropMalform.Load(), "dropped_no_link", c.dropNoLink.Load(), "dropped_no_forwarding", c.dropNoFwd.Load(),
		"dropped_link_full", c.dropLinkFull.Load(), "dropped_link_gone", c.dropLinkGone.Load(),
		"dropped_queue_full", c.dropQueue.Load(), "dropped_not_ours", c.dropNotMine.Load(),
	}
}
