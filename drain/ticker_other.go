//go:build !linux

package drain

import "time"

func newTicker(period time.Duration) ticker { return newRuntimeTicker(period) }
