//go:build !linux

package main

import (
	"fmt"
	"os"
)

func run() {
	fmt.Fprintln(os.Stderr, "flipd-bench: the benchmark runs on Linux only (it reads /proc)")
	os.Exit(2)
}
