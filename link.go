package flipd

import (
	"encoding/json"
	"errors"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/internal/modstate"
)

// init gives the engine what it needs of a Context and of strict
// decoding, without exporting it to module authors (see
// internal/modstate).
func init() {
	modstate.Of = func(ctx any) *modstate.State { return ctx.(Context).load }
	modstate.ForListener = func(ctx any, name string, logger hclog.Logger) any {
		c := ctx.(Context)
		return Context{Context: c.Context, logger: logger, load: c.load, listener: name}
	}
	modstate.LoadModule = func(ctx any, namespace string, raw json.RawMessage, omit ...string) (any, error) {
		return ctx.(Context).loadModule(namespace, raw, omit...)
	}
	modstate.FieldError = func(err error) (string, string, bool) {
		var fe *fieldError
		if errors.As(err, &fe) {
			return fe.field, fe.why, true
		}
		return "", "", false
	}
	modstate.DescribeJSONError = describeJSONError
	modstate.CheckKeys = func(raw []byte) error { return checkKeys(raw, nil) }
	modstate.SwapModule = func(v any) func() {
		info := v.(ModuleInfo)
		modulesMu.Lock()
		defer modulesMu.Unlock()
		orig, had := modules[info.ID]
		modules[info.ID] = info
		return func() {
			modulesMu.Lock()
			defer modulesMu.Unlock()
			if had {
				modules[info.ID] = orig
			} else {
				delete(modules, info.ID)
			}
		}
	}
}
