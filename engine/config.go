package engine

import (
	"github.com/flipd/flipd"
	"github.com/flipd/flipd/internal/modstate"

	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"
)

// Config is flipd's whole configuration, as JSON.
type Config struct {
	// Admin configures the admin API.
	Admin AdminConfig `json:"admin,omitzero"`
	// Storage is where state shared by every generation lives.
	Storage StorageConfig `json:"storage,omitzero"`
	// Upgrade bounds how long a new generation may take to become ready,
	// and how long an old one may take to drain.
	Upgrade UpgradeConfig `json:"upgrade,omitzero"`
	// Logging chooses the log level and format.
	Logging LoggingConfig `json:"logging,omitzero"`
	// Listeners maps a name of your choice to a listener: an "address"
	// ("tcp/127.0.0.1:8080", "unix//run/app.sock", "udp/[::]:53"), the
	// listener "module" that serves it ("http", "tcp", "udp", ...),
	// optional "wrappers" ([{"module": "tls", ...}]), optional socket
	// options ("backlog", "reuse_port", "recv_buffer", "send_buffer":
	// see SocketOptions), and the module's own fields.
	Listeners map[string]json.RawMessage `json:"listeners,omitempty"`

	// heads are the listeners' addresses, modules and wrappers, by name,
	// as ParseConfig read them: loading the config reads them from here
	// rather than decoding every listener's JSON a second time.
	heads map[string]listenerHead
}

// AdminConfig configures the admin API.
type AdminConfig struct {
	// Disabled turns the admin API off.
	Disabled bool `json:"disabled,omitempty"`
	// Listen is the admin API's address: "127.0.0.1:2019" (the default),
	// another loopback address, or a unix socket "unix//run/flipd.sock"
	// (created with mode 0600: the recommended setting). An abstract
	// unix socket ("unix/@flipd", Linux only) has no file permissions,
	// so it needs a Token, as does a TCP address beyond loopback.
	Listen string `json:"listen,omitempty"`
	// Origins lists the Origin header values allowed to make requests
	// (browsers send one); requests with any other Origin are refused.
	Origins []string `json:"origins,omitempty"`
	// MaxBodyBytes bounds request bodies. Default 1 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// Token, if set, must come as "Authorization: Bearer <token>".
	Token string `json:"token,omitempty"`
}

// DefaultAdminListen is where the admin API listens unless configured.
const DefaultAdminListen = "127.0.0.1:2019"

// DefaultAdminMaxBodyBytes bounds admin request bodies unless configured.
const DefaultAdminMaxBodyBytes = 1 << 20

// Address is where the admin API listens: listen, "unix//path" or an
// absolute path for a unix socket, or the default. A TCP address must be
// on loopback, and a unix socket must not be abstract ("unix/@name"),
// unless a token is set: the admin API can replace the whole config.
func (a AdminConfig) Address() (Address, error) {
	listen := a.Listen
	switch {
	case listen == "":
		listen = DefaultAdminListen
	case strings.HasPrefix(listen, "/"):
		listen = "unix/" + listen
	}
	addr, err := ParseAddress(listen)
	if err != nil {
		return Address{}, err
	}
	if addr.Network == "unix" || addr.Network == "unixpacket" {
		if strings.HasPrefix(addr.Addr, "@") && a.Token == "" {
			return Address{}, fmt.Errorf("%s is an abstract unix socket, which has no file permissions: any local user could connect to it and take over flipd; set admin.token to use it, or listen on a socket file such as unix//run/flipd/admin.sock", addr)
		}
		return addr, nil
	}
	host, _, _ := net.SplitHostPort(addr.Addr)
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && a.Token == "" {
		return Address{}, fmt.Errorf("%s is not a loopback address: set admin.token to expose the admin API beyond this machine", addr)
	}
	return addr, nil
}

// StorageConfig is where state shared by every generation lives.
type StorageConfig struct {
	// Dir holds the last good config (for "flipd run --resume"),
	// certificates and the like. Default: $XDG_DATA_HOME/flipd, or
	// ~/.local/share/flipd.
	Dir string `json:"dir,omitempty"`
}

// UpgradeConfig bounds a reload.
type UpgradeConfig struct {
	// Timeout is how long a new generation may take to load its config
	// and report ready; it is then killed and the old one keeps serving.
	// Default 30s.
	Timeout flipd.Duration `json:"timeout,omitzero"`
	// DrainTimeout is how long an old generation may take to finish what
	// it accepted; what is left is then closed. Default 30s.
	DrainTimeout flipd.Duration `json:"drain_timeout,omitzero"`
	// MaxDraining bounds how many old generations may drain at once; a
	// reload beyond that is refused. Default 2.
	MaxDraining int `json:"max_draining,omitempty"`
	// ShutdownDelay is how long a generation told to stop for good
	// (SIGTERM, SIGINT, POST /stop; not a reload) keeps serving before it
	// drains, while readiness probes (the "health" handler of the http
	// module) already answer 503 "stopping": time for a load balancer, or
	// Kubernetes' endpoint controller, to stop sending it new requests.
	// A reload asked for meanwhile is refused; a second SIGINT ends the
	// delay and closes at once. Default 0: drain at once.
	ShutdownDelay flipd.Duration `json:"shutdown_delay,omitzero"`
	// CloseSpread spreads, over this long, the ends of the long-lived
	// connections a draining generation still holds as drain_timeout
	// nears (WebSockets and other Upgrade tunnels, hijacked
	// connections): each gets a WebSocket Close frame (1001) or a FIN in
	// its turn, the oldest first, so that their clients do not all
	// reconnect at one instant (HAProxy's close-spread-time). The window
	// ends shortly before drain_timeout (a second, or a fifth of
	// drain_timeout if less), which leaves each connection time to say
	// goodbye. Default 0: all at that moment.
	CloseSpread flipd.Duration `json:"close_spread,omitzero"`

	// MoveConnections: on a reload to this config, established
	// connections that can move (those of the tcp module's echo and
	// proxy handlers, and of any module that implements
	// flipd.ConnMover) move to the new generation instead of keeping the
	// old one alive until they end. false: they drain in the old
	// generation, as before. Default true.
	MoveConnections *bool `json:"move_connections,omitempty"`

	// Standby: once a generation serves, it starts its successor ahead
	// of time, a process of the flipd binary that has initialised, holds
	// the listening sockets and waits; a reload hands it the new config,
	// so that it costs loading the config, not starting a process.
	// Discarded (and a new process started) when the binary on disk has
	// changed since, so that POST /upgrade runs the new binary. Costs one
	// idle process, listed in GET /status as "standby" (it shows in ps
	// with the same command line as the generations). Default false:
	// every reload starts a new process. See "Standby" in the upgrade
	// package's documentation.
	Standby bool `json:"standby,omitempty"`
}

// LoggingConfig chooses how flipd logs.
type LoggingConfig struct {
	// Level is "trace", "debug", "info" (the default), "warn" or "error".
	Level string `json:"level,omitempty"`
	// Format is "text" (the default) or "json".
	Format string `json:"format,omitempty"`
}

// Defaults used when the config leaves a field of "upgrade" out.
const (
	// DefaultUpgradeTimeout is the default of upgrade.timeout: how long a
	// new generation may take to load its config and report ready. The
	// runtime always passes its own timeout to upgrade, so that
	// package's longer DefaultReadyTimeout, for programs that use it as
	// a library, never applies to flipd.
	DefaultUpgradeTimeout = 30 * time.Second
	// DefaultDrainTimeout is the default of upgrade.drain_timeout.
	DefaultDrainTimeout = 30 * time.Second
)

// ParseConfig decodes a config strictly (unknown fields are errors) and
// checks what can be checked without loading modules: every listener has
// an address and a module, and no two listeners share an address.
func ParseConfig(raw []byte) (*Config, error) {
	var cfg Config
	if err := flipd.DecodeStrict(raw, &cfg); err != nil {
		var ke *flipd.KeyError
		if errors.As(err, &ke) {
			return nil, &flipd.ConfigError{Field: joinPath(ke.Path, ke.Key), Err: err}
		}
		if field, why, ok := modstate.FieldError(err); ok {
			return nil, &flipd.ConfigError{Field: field, Err: errors.New(why)}
		}
		return nil, &flipd.ConfigError{Err: err}
	}
	seen := map[Address]string{}
	var order []Address // seen's keys, to report the first overlap
	if !cfg.Admin.Disabled {
		addr, err := cfg.Admin.Address()
		if err != nil {
			return nil, &flipd.ConfigError{Field: "admin.listen", Err: err}
		}
		seen[addr] = "the admin API"
		order = append(order, addr)
	}
	if cfg.Admin.MaxBodyBytes < 0 {
		return nil, &flipd.ConfigError{Field: "admin.max_body_bytes", Err: errors.New("must not be negative")}
	}
	cfg.heads = make(map[string]listenerHead, len(cfg.Listeners))
	for _, name := range cfg.listenerNames() {
		head, err := parseListenerHead(cfg.Listeners[name])
		if err != nil {
			return nil, &flipd.ConfigError{Field: "listeners." + name, Err: err}
		}
		cfg.heads[name] = head
		if other, dup := seen[head.addr]; dup {
			return nil, &flipd.ConfigError{Field: "listeners." + name,
				Err: fmt.Errorf("address %s is already used by %s", head.addr, other)}
		}
		for _, addr := range order {
			if overlap(addr, head.addr) {
				return nil, &flipd.ConfigError{Field: "listeners." + name + ".address",
					Err: fmt.Errorf("%s overlaps %s of %s: both cannot listen", head.addr, addr, seen[addr])}
			}
		}
		seen[head.addr] = fmt.Sprintf("listener %q", name)
		order = append(order, head.addr)
	}
	if cfg.Upgrade.MaxDraining < 0 {
		return nil, &flipd.ConfigError{Field: "upgrade.max_draining", Err: errors.New("must not be negative")}
	}
	switch cfg.Logging.Level {
	case "", "trace", "debug", "info", "warn", "error":
	default:
		return nil, &flipd.ConfigError{Field: "logging.level",
			Err: fmt.Errorf("%q is not one of \"trace\", \"debug\", \"info\", \"warn\", \"error\"", cfg.Logging.Level)}
	}
	switch cfg.Logging.Format {
	case "", "text", "json":
	default:
		return nil, &flipd.ConfigError{Field: "logging.format", Err: fmt.Errorf("%q is not \"text\" or \"json\"", cfg.Logging.Format)}
	}
	return &cfg, nil
}

func (cfg *Config) listenerNames() []string {
	names := make([]string, 0, len(cfg.Listeners))
	for name := range cfg.Listeners {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// listenerHead is the part of a listener's JSON that belongs to the
// runtime; the rest belongs to its module.
type listenerHead struct {
	addr     Address
	module   string
	wrappers []json.RawMessage
	opts     SocketOptions
}

func parseListenerHead(raw json.RawMessage) (listenerHead, error) {
	var h struct {
		Address  string            `json:"address"`
		Module   string            `json:"module"`
		Wrappers []json.RawMessage `json:"wrappers"`
		// SocketOptions' fields, spelled out so that an error names
		// "recv_buffer", not "SocketOptions.recv_buffer".
		Backlog    int  `json:"backlog"`
		ReusePort  bool `json:"reuse_port"`
		RecvBuffer int  `json:"recv_buffer"`
		SendBuffer int  `json:"send_buffer"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return listenerHead{}, modstate.DescribeJSONError(raw, err)
	}
	if h.Address == "" {
		return listenerHead{}, errors.New(`"address" is missing (e.g. "tcp/127.0.0.1:8080")`)
	}
	addr, err := ParseAddress(h.Address)
	if err != nil {
		return listenerHead{}, fmt.Errorf("address: %w", err)
	}
	if h.Module == "" {
		return listenerHead{}, errors.New(`"module" is missing (e.g. "http" or "tcp")`)
	}
	opts := SocketOptions{Backlog: h.Backlog, ReusePort: h.ReusePort, RecvBuffer: h.RecvBuffer, SendBuffer: h.SendBuffer}
	if err := opts.validate(addr); err != nil {
		return listenerHead{}, err
	}
	if addr.IsPacket() && len(h.Wrappers) > 0 {
		return listenerHead{}, fmt.Errorf(`"wrappers": %s is a datagram socket, and wrappers wrap stream listeners: leave them out`, addr)
	}
	return listenerHead{addr: addr, module: h.Module, wrappers: h.Wrappers, opts: opts}, nil
}

// Address is a listener's network and canonical address, the key under
// which its socket passes from one generation to the next.
type Address struct {
	Network string // "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix", "unixpacket"
	Addr    string // "127.0.0.1:8080", "[::1]:443", "/run/app.sock"
}

func (a Address) String() string { return a.Network + "/" + a.Addr }

// IsPacket reports whether the address is a datagram socket (udp), served
// by a [flipd.PacketServer] rather than through a listener.
func (a Address) IsPacket() bool { return isUDP(a.Network) }

func isUDP(network string) bool { return network == "udp" || network == "udp4" || network == "udp6" }

// ParseAddress reads "network/address" ("tcp/127.0.0.1:8080",
// "udp/[::1]:53", "unix//run/app.sock"; a bare "host:port" means tcp)
// and spells the
// address canonically, so that two spellings of one socket are one key.
func ParseAddress(s string) (Address, error) {
	network, addr, ok := strings.Cut(s, "/")
	if !ok {
		network, addr = "tcp", s
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return Address{}, fmt.Errorf("%q: %w", s, err)
		}
		if p, err := net.LookupPort(network, port); err != nil || p > 65535 {
			return Address{}, fmt.Errorf("%q: invalid port %q", s, port)
		} else {
			port = fmt.Sprint(p)
		}
		if ip := net.ParseIP(host); ip != nil {
			host = ip.String()
		} else {
			host = strings.ToLower(host)
		}
		return Address{network, net.JoinHostPort(host, port)}, nil
	case "unix", "unixpacket":
		if addr == "" {
			return Address{}, fmt.Errorf("%q: a unix socket needs a path", s)
		}
		return Address{network, addr}, nil
	case "":
		return Address{}, fmt.Errorf("%q: network is missing (%s)", s, knownNetworks)
	}
	return Address{}, fmt.Errorf("%q: unsupported network %q (%s)", s, network, knownNetworks)
}

const knownNetworks = "tcp, tcp4, tcp6, udp, udp4, udp6, unix"

// joinPath is the dotted path of key under path, as a KeyError names it.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
