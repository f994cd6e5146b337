// Package engine turns package upgrade into a daemon: it loads a JSON
// config, builds its listener modules, serves, and reloads by re-executing
// itself with the new config, so that the new generation provisions
// everything before the old one stops.
//
// It holds what runs modules, not what a module is: [Start] and the
// [Instance] it returns (Reload, Upgrade, Stop, Status, Stats, readiness),
// the config ([Config], [ParseConfig], [Validate], and the admin, upgrade,
// storage and logging sections), the listener registry, the generations
// and the PID file. cmd/flipdcmd and the admin API import it. A module
// imports the SDK, package github.com/flipd/flipd, which this package
// imports and which never imports it; the two meet in the unexported
// state of a flipd.Context (see internal/modstate).
package engine
