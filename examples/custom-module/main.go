// Command custom-module is flipd with one more module: the way to build
// flipd with modules of your own (as xcaddy does for Caddy) is a main
// package like this one, importing flipd's command line, the standard
// modules and yours.
//
//	go run ./examples/custom-module list-modules     # includes listeners.greeter
//	go run ./examples/custom-module run --config examples/custom-module/greeter.json
//	nc 127.0.0.1 7001                                 # "hi from generation 1"
package main

import (
	"github.com/flipd/flipd/cmd/flipdcmd"

	_ "github.com/flipd/flipd/examples/custom-module/greeter"
	_ "github.com/flipd/flipd/modules/standard"
)

func main() { flipdcmd.Main() }
