package bench

import (
	"errors"
	"sync"
	"time"
)

// SharedConfig measures pairs of servers at once: the two servers of a
// pair, pinned to the same core, each answer a closed loop of their own at
// the same time, round after round, and each round reads both servers'
// CPU time. Alternating slices (alternate.go) measure each server in a
// moment of its own, and on a shared machine a moment's neighbours change
// what a request costs by a tenth or more, slice to slice; two servers
// measured in the same moment, sharing a core down to the scheduler's
// time slices, meet the same neighbours. The median of the rounds' ratios
// of CPU time a request is then steady within a percent, which a pair of
// identical servers shows (the bench measures one as a control).
type SharedConfig struct {
	// Pairs of servers; each round measures one pair after the other.
	// Their Stats are not read: allocations are the alternating slices'.
	Pairs [][2]AlternateServer `json:"pairs"`
	// Conns keep-alive connections to each server.
	Conns  int           `json:"conns"`
	Round  time.Duration `json:"round"`
	Rounds int           `json:"rounds"`
	// Warmup rounds come first and are not counted.
	Warmup int `json:"warmup"`
}

// SharedResult is, for each pair, each server's rounds.
type SharedResult struct {
	Pairs    [][2][]SliceResult `json:"pairs"`
	Errors   int64              `json:"errors"`
	Examples []string           `json:"examples,omitempty"`
}

// runShared runs cfg's pairs.
func runShared(cfg SharedConfig) (SharedResult, error) {
	if len(cfg.Pairs) == 0 || cfg.Conns < 1 || cfg.Round <= 0 || cfg.Rounds < 1 {
		return SharedResult{}, errors.New("shared: want pairs, conns, a round and rounds")
	}
	errs := &errorLog{}
	res := SharedResult{Pairs: make([][2][]SliceResult, len(cfg.Pairs))}
	clients := make([][2]*altClient, len(cfg.Pairs))
	for p, pair := range cfg.Pairs {
		for i, s := range pair {
			clients[p][i] = newAltClient(s, cfg.Conns, errs)
			defer clients[p][i].close()
		}
	}
	// The pairs take turns, round by round, so that the control meets
	// the machine as the pair it vouches for does.
	for round := range cfg.Warmup + cfg.Rounds {
		for p := range cfg.Pairs {
			got, err := measurePair(clients[p], cfg.Round, round)
			if err != nil {
				return res, err
			}
			if round >= cfg.Warmup {
				for i := range got {
					res.Pairs[p][i] = append(res.Pairs[p][i], got[i])
				}
			}
		}
	}
	res.Errors = errs.n.Load()
	res.Examples = errs.examples
	return res, nil
}

// measurePair measures both servers of a pair at once for d. Each
// server's loop starts first in every other round.
func measurePair(clients [2]*altClient, d time.Duration, round int) ([2]SliceResult, error) {
	var got [2]SliceResult
	var failed [2]error
	var wg sync.WaitGroup
	for _, i := range cycleOrder(len(clients), round) {
		c := clients[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], failed[i] = c.measure(d)
		}()
	}
	wg.Wait()
	return got, errors.Join(failed[:]...)
}

// sharedSides is a pair's servers as rounds of a ThroughputSide each.
func sharedSides(pair [2]AlternateServer, rounds [2][]SliceResult) [2]ThroughputSide {
	return [2]ThroughputSide{sideOf(pair[0].Name, rounds[0]), sideOf(pair[1].Name, rounds[1])}
}
