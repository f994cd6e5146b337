package runtime

import (
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/term"
)

// NewLogger builds flipd's logger from the config's logging section:
// every line carries pid and generation.
func NewLogger(cfg LoggingConfig, out io.Writer, generation int) hclog.Logger {
	if out == nil {
		out = os.Stderr
	}
	level := hclog.LevelFromString(cfg.Level)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	json := cfg.Format == "json"
	if cfg.Format == "" {
		json = !isTerminal(out)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "flipd",
		Level:      level,
		Output:     out,
		JSONFormat: json,
	}).With("pid", os.Getpid(), "generation", generation)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
