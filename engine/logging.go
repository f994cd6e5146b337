package engine

import (
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
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
	return hclog.New(&hclog.LoggerOptions{
		Name:       "flipd",
		Level:      level,
		Output:     out,
		JSONFormat: cfg.Format == "json",
		Color:      hclog.AutoColor,
	}).With("pid", os.Getpid(), "generation", generation)
}
