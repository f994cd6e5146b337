package flipdtls

import (
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger returns a zap logger, as certmagic wants, whose entries go
// to log: they carry flipd's pid, generation and listener, in flipd's
// format.
func newZapLogger(log hclog.Logger) *zap.Logger {
	return zap.New(&hclogCore{log: log})
}

// hclogCore is a zapcore.Core that writes to an hclog.Logger.
type hclogCore struct {
	log    hclog.Logger
	fields []zapcore.Field
}

func hclogLevel(l zapcore.Level) hclog.Level {
	switch {
	case l < zapcore.InfoLevel:
		return hclog.Debug
	case l == zapcore.InfoLevel:
		return hclog.Info
	case l == zapcore.WarnLevel:
		return hclog.Warn
	}
	return hclog.Error
}

// Enabled implements zapcore.LevelEnabler.
func (c *hclogCore) Enabled(l zapcore.Level) bool {
	switch hclogLevel(l) {
	case hclog.Debug:
		return c.log.IsDebug()
	case hclog.Info:
		return c.log.IsInfo()
	case hclog.Warn:
		return c.log.IsWarn()
	}
	return c.log.IsError()
}

// With implements zapcore.Core.
func (c *hclogCore) With(fields []zapcore.Field) zapcore.Core {
	return &hclogCore{log: c.log, fields: append(c.fields[:len(c.fields):len(c.fields)], fields...)}
}

// Check implements zapcore.Core.
func (c *hclogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write implements zapcore.Core.
func (c *hclogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k, enc.Fields[k])
	}
	log := c.log
	// certmagic names its loggers "tls.obtain", "tls.cache.maintenance":
	// the "tls" is ours already.
	if name := strings.TrimPrefix(strings.TrimPrefix(e.LoggerName, "tls"), "."); name != "" {
		log = log.Named(name)
	}
	log.Log(hclogLevel(e.Level), lowerFirst(e.Message), args...)
	return nil
}

// Sync implements zapcore.Core.
func (c *hclogCore) Sync() error { return nil }

// lowerFirst makes certmagic's messages look like flipd's.
func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' || len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
