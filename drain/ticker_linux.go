package drain

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// kernelTicker ticks from a timerfd, which the goroutine waits for in
// the network poller: no runtime timer waits meanwhile, and the
// goroutine holds no processor (see the keeper in deadline.go).
type kernelTicker struct {
	f      *os.File
	period time.Duration
}

// newTicker returns a ticker that ticks every period, the first time a
// period from now.
func newTicker(period time.Duration) ticker {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return newRuntimeTicker(period)
	}
	ts := unix.NsecToTimespec(period.Nanoseconds())
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		unix.Close(fd)
		return newRuntimeTicker(period)
	}
	return kernelTicker{os.NewFile(uintptr(fd), "timerfd"), period}
}

// wait waits for the next tick; ticks missed meanwhile count as one.
func (t kernelTicker) wait() {
	var n [8]byte // how many ticks passed since the last read
	if _, err := t.f.Read(n[:]); err != nil {
		time.Sleep(t.period) // not expected; never a busy loop
	}
}

func (t kernelTicker) stop() { t.f.Close() }
