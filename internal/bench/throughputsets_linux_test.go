package bench

import "testing"

// The sets of alternating cycles, taken together, put flipd and bare
// net/http first in as many counted cycles each, though each set counts
// an odd number of them.
func TestTheThroughputSetsPutEachComparedServerFirstEquallyOften(t *testing.T) {
	servers := make([]AlternateServer, 4)
	first := map[int]int{}
	counted := 0
	for set := range throughputSets {
		cfg := throughputSetConfig(servers, set)
		for cycle := cfg.Warmup; cycle < cfg.Warmup+cfg.Cycles; cycle++ {
			first[cfg.order(cycle)[0]]++
			counted++
		}
	}
	if counted != throughputCycles || first[0] != first[1] || first[0]+first[1] != counted {
		t.Errorf("%d counted cycles, flipd first in %d, bare net/http in %d; want %d, half each", counted, first[0], first[1], throughputCycles)
	}
}
