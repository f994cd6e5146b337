package drain

import "time"

// ticker wakes the deadline keeper every period.
type ticker interface {
	wait()
	stop()
}

// runtimeTicker is a ticker on a runtime timer, where the kernel offers
// none the network poller can wait for (ticker_linux.go).
type runtimeTicker struct{ t *time.Ticker }

func newRuntimeTicker(period time.Duration) ticker { return runtimeTicker{time.NewTicker(period)} }

func (t runtimeTicker) wait() { <-t.t.C }
func (t runtimeTicker) stop() { t.t.Stop() }
