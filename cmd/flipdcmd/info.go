package flipdcmd

import (
	"fmt"
	"runtime/debug"

	"github.com/flipd/flipd"
)

// Version is set at build time with -ldflags "-X
// github.com/flipd/flipd/cmd/flipdcmd.Version=v1.2.3"; otherwise the
// module version from the build info is shown.
var Version = ""

func init() {
	register(command{name: "list-modules", short: "List the modules this build has.", run: cmdListModules})
	register(command{name: "version", short: "Print the version.", run: cmdVersion})
}

func cmdListModules(args []string) error {
	if err := parse(newFlags(commands["list-modules"]), args); err != nil {
		return err
	}
	for _, id := range flipd.Modules() {
		fmt.Println(id)
	}
	return nil
}

func cmdVersion(args []string) error {
	if err := parse(newFlags(commands["version"]), args); err != nil {
		return err
	}
	fmt.Println("flipd", version())
	return nil
}

func version() string {
	if Version != "" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v + " " + info.GoVersion
}
