// Package modstate is the seam between the module SDK (package flipd)
// and the engine (package engine): the state one config's modules share
// while they load, which the engine fills in and reads, and the few
// functions of flipd the engine needs that a module author does not.
// flipd sets the functions in its init; flipd never imports the engine.
package modstate

import (
	"encoding/json"
	"time"

	"github.com/hashicorp/go-hclog"
)

// State is shared by every module of one config being loaded.
type State struct {
	StorageDir string
	Generation int
	// CloseSpread is the config's upgrade.close_spread.
	CloseSpread time.Duration
	// Cleanups are the provisioned modules' Cleanup, in order, for
	// running in reverse.
	Cleanups []func() error
	// Hooks are the provisioned modules with a Start or a Stop, in order.
	Hooks []Hook
	// Inherited is what the previous generation handed over, by key.
	Inherited map[string][]byte
	// Handovers produce what to hand to the next generation, by key.
	Handovers map[string]func() []byte
	// Readiness is the serving generation's, once it serves this config
	// (a flipd.Readiness as a string).
	Readiness func() string
}

// Hook is a module (a flipd.Module) with a Start or a Stop, and where it
// is configured.
type Hook struct {
	Mod      any
	Name     string // the module's name
	Listener string
}

// What flipd provides to the engine; ctx is a flipd.Context and a module
// a flipd.Module.
var (
	// Of returns ctx's shared state.
	Of func(ctx any) *State
	// ForListener returns ctx for loading the modules of listener name,
	// logging through logger.
	ForListener func(ctx any, name string, logger hclog.Logger) any
	// LoadModule is Context.LoadModule; the keys in omit belong to the
	// caller.
	LoadModule func(ctx any, namespace string, raw json.RawMessage, omit ...string) (any, error)
	// FieldError reports the field and reason of a DecodeStrict error
	// about one field's value.
	FieldError func(err error) (field, why string, ok bool)
	// DescribeJSONError turns a JSON syntax or type error in raw into one
	// that says where.
	DescribeJSONError func(raw []byte, err error) error
	// CheckKeys is DecodeStrict's check of unknown keys, for a fuzz test.
	CheckKeys func(raw []byte) error
	// SwapModule replaces the registered module of info's ID (a
	// flipd.ModuleInfo) for a test, and returns what puts it back.
	SwapModule func(info any) (restore func())
)
