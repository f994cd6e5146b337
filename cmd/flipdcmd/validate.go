package flipdcmd

import (
	"fmt"
	"os"

	"github.com/flipd/flipd/engine"
)

func init() {
	register(command{
		name:  "validate",
		usage: "--config FILE",
		short: "Check a config: parse it and provision every module, without opening a socket.",
		run:   cmdValidate,
	})
}

func cmdValidate(args []string) error {
	fs := newFlags(commands["validate"])
	configFile := fs.String("config", "", "the JSON config `file` to check")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *configFile == "" {
		return fmt.Errorf("%w: --config is required", errUsage)
	}
	raw, err := os.ReadFile(*configFile)
	if err != nil {
		return err
	}
	if err := engine.Validate(raw); err != nil {
		return err
	}
	fmt.Printf("%s: valid\n", *configFile)
	return nil
}
