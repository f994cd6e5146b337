package upgrade

// runningExecutable names the binary this process runs, even after its
// path was deleted or replaced.
func runningExecutable() string { return "/proc/self/exe" }
