// Package flipdcmd is flipd's command line. cmd/flipd calls Main; a
// custom build (flipd with modules of your own) is a main package that
// imports this package, modules/standard and your modules, and calls Main:
// see examples/custom-module.
package flipdcmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one of flipd's subcommands.
type command struct {
	name  string
	usage string // arguments, after the name
	short string
	run   func(args []string) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// errUsage marks an error caused by how flipd was called; Main exits 2.
var errUsage = errors.New("usage")

// Main runs the command named by os.Args and exits.
func Main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "flipd: unknown command %q\n\n", args[0])
		printHelp(stderr)
		return 2
	}
	if err := c.run(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "flipd %s: %v\n", c.name, err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "flipd serves listeners from a JSON config and reloads them by re-executing itself, without dropping a connection.")
	fmt.Fprintln(w, "\nUsage: flipd <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := commands[name]
		fmt.Fprintf(w, "  %-13s %s\n", name, c.short)
	}
	fmt.Fprintln(w, "\nRun 'flipd <command> -h' for a command's flags.")
}

// newFlags makes a command's flag set; its usage names the command.
func newFlags(c command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: flipd %s %s\n\n%s\n\n", c.name, c.usage, c.short)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, refusing positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments: %s", errUsage, strings.Join(fs.Args(), " "))
	}
	return nil
}
