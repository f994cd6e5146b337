package flipdcmd

import (
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/flipd/flipd/supervisor"
)

func TestRunModeOfFollowsTheFlagsAndTheParent(t *testing.T) {
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	for _, tc := range []struct {
		name                     string
		generation, noSupervisor bool
		env                      string
		want                     runMode
		wantArgs                 []string
	}{
		{"no flags, no supervisor above", false, false, "", modeSupervisor, []string{"flipd", "run", "--config", "f"}},
		{"--no-supervisor", false, true, "", modeChain, []string{"flipd", "run", "--config", "f"}},
		{"--generation", true, false, "", modeGeneration, []string{"flipd", "run", "--config", "f"}},
		{"a supervisor that is not the parent", false, false, "1", modeSupervisor, []string{"flipd", "run", "--config", "f"}},
		{"flipd supervise as the parent", false, false, strconv.Itoa(os.Getppid()), modeGeneration,
			[]string{"flipd", "run", generationFlag, "--config", "f"}},
		{"--no-supervisor under flipd supervise", false, true, strconv.Itoa(os.Getppid()), modeChain, []string{"flipd", "run", "--config", "f"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Args = []string{"flipd", "run", "--config", "f"}
			t.Setenv(supervisor.PIDEnv, tc.env)
			if got := runModeOf(tc.generation, tc.noSupervisor); got != tc.want {
				t.Errorf("runModeOf(%v, %v) with %s=%q: %v, want %v", tc.generation, tc.noSupervisor, supervisor.PIDEnv, tc.env, got, tc.want)
			}
			if !slices.Equal(os.Args, tc.wantArgs) {
				t.Errorf("os.Args %q, want %q (what the next generations run)", os.Args, tc.wantArgs)
			}
		})
	}
}

func TestMarkArgsPutsTheFlagAfterRunOnce(t *testing.T) {
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	os.Args = []string{"/bin/flipd", "run", "--config", "f"}
	markArgs("--no-supervisor")
	markArgs("--no-supervisor")
	if want := []string{"/bin/flipd", "run", "--no-supervisor", "--config", "f"}; !slices.Equal(os.Args, want) {
		t.Errorf("os.Args %q, want %q", os.Args, want)
	}
	os.Args = []string{"/bin/flipd", "supervise", "--", "x"}
	markArgs(generationFlag)
	if want := []string{"/bin/flipd", "supervise", "--", "x"}; !slices.Equal(os.Args, want) {
		t.Errorf("os.Args %q, want %q: only flipd run is marked", os.Args, want)
	}
}
