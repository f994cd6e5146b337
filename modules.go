package flipd

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ModuleID names a module: its namespace and its name, joined by the last
// dot ("listeners.http", "http.handlers.static_response"). In JSON a
// module is chosen by its name alone, in a place that fixes the namespace:
// {"module": "static_response"} inside a route's "handle".
type ModuleID string

// Namespace is everything before the last dot ("http.handlers").
func (id ModuleID) Namespace() string {
	if i := strings.LastIndexByte(string(id), '.'); i >= 0 {
		return string(id[:i])
	}
	return ""
}

// Name is everything after the last dot ("static_response").
func (id ModuleID) Name() string {
	return string(id[strings.LastIndexByte(string(id), '.')+1:])
}

// ModuleInfo describes a module to the registry.
type ModuleInfo struct {
	// ID is the module's full name, namespace included.
	ID ModuleID
	// New returns a new, empty value of the module, ready to be decoded
	// into from JSON. It must return a pointer.
	New func() Module
}

// Module is any value that can be built from config. A module's type
// implements the interface of its namespace, and optionally Provisioner,
// Validator and CleanerUpper.
type Module interface {
	FlipdModule() ModuleInfo
}

// Provisioner is implemented by modules that need setting up after their
// JSON has been decoded: defaults, nested modules, connections to
// upstreams. Provision must not open listening sockets: the runtime hands
// those to the module when it serves.
type Provisioner interface {
	Provision(ctx Context) error
}

// Validator is implemented by modules that can check their config once
// provisioned. A config whose modules do not validate is refused before
// any process is started.
type Validator interface {
	Validate() error
}

// CleanerUpper is implemented by modules that hold resources after
// Provision (timers, files, connections). Cleanup is called when the
// config the module belongs to is discarded: it failed to load, or the
// process that served it is exiting.
type CleanerUpper interface {
	Cleanup() error
}

var (
	modulesMu sync.RWMutex
	modules   = map[ModuleID]ModuleInfo{}
)

// RegisterModule adds a module to the registry. Call it from an init
// function of the module's package; importing the package (blank, from a
// main package) then makes the module available to configs. It panics on
// a module without a namespace, a name or a constructor, and on a
// duplicate ID, since both are programming errors.
func RegisterModule(m Module) {
	info := m.FlipdModule()
	if info.ID.Namespace() == "" || info.ID.Name() == "" {
		panic(fmt.Sprintf("flipd: module ID %q needs a namespace and a name", info.ID))
	}
	if info.New == nil {
		panic(fmt.Sprintf("flipd: module %s: ModuleInfo.New is nil", info.ID))
	}
	if v := info.New(); v == nil {
		panic(fmt.Sprintf("flipd: module %s: ModuleInfo.New returned nil", info.ID))
	}
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if _, ok := modules[info.ID]; ok {
		panic(fmt.Sprintf("flipd: module %s is already registered", info.ID))
	}
	modules[info.ID] = info
}

// GetModule returns the registered module with that ID.
func GetModule(id ModuleID) (ModuleInfo, error) {
	modulesMu.RLock()
	defer modulesMu.RUnlock()
	info, ok := modules[id]
	if !ok {
		return ModuleInfo{}, unknownModuleError(id)
	}
	return info, nil
}

// Modules lists the IDs of every registered module, sorted.
func Modules() []ModuleID {
	modulesMu.RLock()
	defer modulesMu.RUnlock()
	ids := make([]ModuleID, 0, len(modules))
	for id := range modules {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// unknownModuleError names the module and what the namespace does have,
// so a typo is easy to spot.
func unknownModuleError(id ModuleID) error {
	var known []string
	for _, other := range Modules() {
		if other.Namespace() == id.Namespace() {
			known = append(known, string(other.Name()))
		}
	}
	if len(known) == 0 {
		return fmt.Errorf("unknown module %q: nothing is registered in namespace %q", id.Name(), id.Namespace())
	}
	return fmt.Errorf("unknown module %q in %s (known: %s)", id.Name(), id.Namespace(), strings.Join(known, ", "))
}
