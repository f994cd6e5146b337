package flipd

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// ConfigError is a config that cannot be used; Field names where.
type ConfigError struct {
	Field string // "listeners.web.routes", "" for the whole config
	Err   error
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "config: " + e.Err.Error()
	}
	return "config: " + e.Field + ": " + e.Err.Error()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// CheckHostPort checks an upstream address of a config ("127.0.0.1:9000",
// "db.internal:5432"): a host and a numeric port from 1 to 65535. The host
// is not resolved, since DNS may change before the module dials it.
func CheckHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, such as \"127.0.0.1:9000\": %w", err)
	}
	if host == "" {
		return errors.New("the host is missing, such as \"127.0.0.1\" in \"127.0.0.1:9000\"")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	return nil
}
