package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// IdleConfig holds many idle keep-alive connections across an upgrade.
type IdleConfig struct {
	URL   string `json:"url"`
	Conns int    `json:"conns"`
	// Parallel bounds the connections opened at once, below the
	// listener's backlog.
	Parallel int `json:"parallel"`
	// Trickle is the rate, per second, of POSTs sent while the parent
	// upgrades, each on a connection picked at random: most connections
	// stay idle, a few are used just as the old generation drains them.
	Trickle     int           `json:"trickle"`
	MaxDuration time.Duration `json:"max_duration"`
	Timeout     time.Duration `json:"timeout"`
	Bodies      []string      `json:"bodies"`
}

// IdleResult is each phase of an idle run.
type IdleResult struct {
	Established Summary `json:"established"` // one POST per connection, opening it
	Trickle     Summary `json:"trickle"`     // during the upgrade
	Final       Summary `json:"final"`       // one POST per client, after the old generation exited
}

// runIdle opens cfg.Conns connections with one POST each, says
// "established", sends a trickle until next is closed, then sends one
// more POST from every client (each on its old connection if it is still
// open, else on a new one).
func runIdle(cfg IdleConfig, next <-chan struct{}, say func(string)) (IdleResult, error) {
	if cfg.Conns < 1 || cfg.Parallel < 1 {
		return IdleResult{}, errors.New("idle: want conns and parallel")
	}
	lc := LoadConfig{Mode: ModeKeepAlive, URL: cfg.URL, Conns: cfg.Conns, Timeout: cfg.Timeout, Bodies: cfg.Bodies}
	cs, err := clients(lc)
	if err != nil {
		return IdleResult{}, err
	}
	defer func() {
		for _, c := range cs {
			c.CloseIdleConnections()
		}
	}()
	everyone := func() Summary {
		start := time.Now()
		samples := make([]Sample, len(cs))
		sem := make(chan struct{}, cfg.Parallel)
		var wg sync.WaitGroup
		for i, c := range cs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				samples[i] = request(c, lc, time.Now())
			}()
		}
		wg.Wait()
		return Summarize(samples, start, 0)
	}
	var res IdleResult
	res.Established = everyone()
	say(fmt.Sprintf("established %d", res.Established.OK))
	res.Trickle = schedule(cfg.Trickle, 64, cfg.MaxDuration, 0, next, func(_ int, due time.Time) Sample {
		return request(cs[rand.IntN(len(cs))], lc, due)
	})
	res.Final = everyone()
	return res, nil
}
