package flipd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/internal/modstate"
)

// Context is what a module's Provision gets: a context.Context that ends
// when the config is discarded, a logger, and the means to load the
// modules nested in its own config.
type Context struct {
	context.Context
	logger hclog.Logger
	load   *modstate.State
	// listener names the listener whose modules are being loaded.
	listener string
}

// Logger returns the module's logger; it carries pid and generation.
func (ctx Context) Logger() hclog.Logger { return ctx.logger }

// StorageDir is the directory every generation shares (storage.dir).
func (ctx Context) StorageDir() string { return ctx.load.StorageDir }

// Generation is the number of the generation that will serve this config.
func (ctx Context) Generation() int { return ctx.load.Generation }

// CloseSpread is upgrade.close_spread: the window over which a draining
// module ends the long-lived connections still open as drain_timeout
// nears, so that their clients do not all reconnect at one instant.
func (ctx Context) CloseSpread() time.Duration { return ctx.load.CloseSpread }

// Inherited returns what the previous generation handed over under key
// (see Handover), or nil: in the first generation, or if it had nothing.
// Keys are shared by all modules: prefix them with the module's ID.
func (ctx Context) Inherited(key string) []byte { return ctx.load.Inherited[key] }

// Handover registers f to produce, at each reload, the state handed to
// the next generation under key (TLS session ticket keys, say), which it
// reads with Inherited. f is called while this generation still serves,
// so the state must be safe to share with the next one. Registrations
// made while a config is only being validated are discarded.
func (ctx Context) Handover(key string, f func() []byte) {
	if ctx.load.Handovers == nil {
		ctx.load.Handovers = map[string]func() []byte{}
	}
	ctx.load.Handovers[key] = f
}

// LoadModule builds the module described by raw, a JSON object whose
// "module" key names a module of namespace and whose other keys are that
// module's fields (unknown ones are an error). The module is provisioned
// and validated; if that fails it is cleaned up. Modules loaded this way
// are cleaned up with the config that holds them.
func (ctx Context) LoadModule(namespace string, raw json.RawMessage) (Module, error) {
	return ctx.loadModule(namespace, raw)
}

// loadModule is LoadModule; the keys in omit belong to the caller.
func (ctx Context) loadModule(namespace string, raw json.RawMessage, omit ...string) (Module, error) {
	var head struct {
		Module string `json:"module"`
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("missing: need an object with a \"module\" key naming a module of %s", namespace)
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("need an object with a \"module\" key: %w", err)
	}
	if head.Module == "" {
		return nil, fmt.Errorf("\"module\" is missing: name a module of %s", namespace)
	}
	id := ModuleID(namespace + "." + head.Module)
	info, err := GetModule(id)
	if err != nil {
		return nil, err
	}
	mod := info.New()
	if err := DecodeStrict(raw, mod, append(omit, "module")...); err != nil {
		return nil, fmt.Errorf("module %q: %w", head.Module, err)
	}
	sub := Context{Context: ctx.Context, logger: ctx.logger.Named(head.Module), load: ctx.load, listener: ctx.listener}
	if err := provision(sub, mod); err != nil {
		return nil, fmt.Errorf("module %q: %w", head.Module, err)
	}
	ctx.addHook(mod, head.Module)
	return mod, nil
}

// provision runs Provision and Validate; on failure it cleans the module
// up, otherwise it records it for cleanup with the config.
func provision(ctx Context, mod Module) error {
	if p, ok := mod.(Provisioner); ok {
		if err := p.Provision(ctx); err != nil {
			return errors.Join(err, cleanup(mod))
		}
	}
	if v, ok := mod.(Validator); ok {
		if err := v.Validate(); err != nil {
			return errors.Join(err, cleanup(mod))
		}
	}
	if c, ok := mod.(CleanerUpper); ok {
		ctx.load.Cleanups = append(ctx.load.Cleanups, c.Cleanup)
	}
	return nil
}

func cleanup(mod Module) error {
	if c, ok := mod.(CleanerUpper); ok {
		if err := c.Cleanup(); err != nil {
			return fmt.Errorf("cleaning up: %w", err)
		}
	}
	return nil
}

// DecodeStrict decodes the JSON object raw into v, refusing unknown
// fields, after removing the keys in omit (those that belong to the
// caller, like "module" or a listener's "address"). Errors name the field.
func DecodeStrict(raw json.RawMessage, v any, omit ...string) error {
	// On well-formed JSON (json.Valid also bounds its nesting), refuse
	// what encoding/json would take silently: a null, duplicate keys,
	// keys in another case than their field's.
	trimmed := bytes.TrimSpace(raw)
	valid := json.Valid(trimmed)
	if valid {
		if trimmed[0] != '{' {
			return fmt.Errorf("want a JSON object, not %s", jsonKind(trimmed))
		}
		if err := checkKeys(trimmed, reflect.TypeOf(v), omit...); err != nil {
			return err
		}
	}
	switch {
	case len(omit) > 0 && valid:
		raw = withoutKeys(trimmed, omit)
	case len(omit) > 0:
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return describeJSONError(raw, err)
		}
		for _, k := range omit {
			delete(fields, k)
		}
		var err error
		if raw, err = json.Marshal(fields); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(raw, err)
	}
	// More says false at a stray '}' or ']': look at the bytes instead.
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) > 0 {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// jsonKind names the kind of a valid JSON value that is not an object.
func jsonKind(v []byte) string {
	switch v[0] {
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// describeJSONError turns encoding/json's errors into sentences that name
// the field and, for syntax errors, the line and column.
func describeJSONError(raw []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		line, col := position(raw, syntax.Offset-1) // Offset counts the bad byte
		return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, syntax.Error())
	case errors.As(err, &typ):
		why := fmt.Sprintf("cannot use %s as %s", typ.Value, typ.Type)
		if typ.Type == durationType {
			why = wantDuration + typ.Value
		}
		if typ.Field != "" {
			return &fieldError{field: typ.Field, why: why}
		}
		return errors.New(why)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: it ends before the object is complete")
	case errors.Is(err, io.EOF):
		return errors.New("empty config: expected a JSON object")
	}
	return err
}

// fieldError is a value of the wrong type for a field, whose dotted path
// ParseConfig reports as the ConfigError's Field, followed by why.
type fieldError struct{ field, why string }

func (e *fieldError) Error() string { return fmt.Sprintf("field %q: %s", e.field, e.why) }

func position(raw []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(raw)); i++ {
		if raw[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// NewContext returns a Context for loading one config's modules, and a
// function that cleans up every module loaded through it, newest first,
// and ends the context. The runtime uses it for each config; module tests
// use it to provision a module on its own.
func NewContext(parent context.Context, logger hclog.Logger, storageDir string, generation int) (Context, func() error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	cctx, cancel := context.WithCancel(parent)
	ctx := Context{Context: cctx, logger: logger, load: &modstate.State{StorageDir: storageDir, Generation: generation}}
	return ctx, func() error {
		cancel()
		var errs []error
		cl := ctx.load.Cleanups
		for i := len(cl) - 1; i >= 0; i-- {
			if err := cl[i](); err != nil {
				errs = append(errs, err)
			}
		}
		ctx.load.Cleanups = nil
		return errors.Join(errs...)
	}
}
