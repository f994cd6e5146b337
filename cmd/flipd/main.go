// Command flipd serves network listeners from a JSON config and reloads
// them by re-executing itself, without dropping a connection.
//
//	flipd run --config examples/hello.json
//	kill -HUP $(cat flipd.pid)          # reload the edited config
//
// Run "flipd help" for the commands.
package main

import (
	"github.com/flipd/flipd/cmd/flipdcmd"

	_ "github.com/flipd/flipd/modules/standard"
)

func main() { flipdcmd.Main() }
