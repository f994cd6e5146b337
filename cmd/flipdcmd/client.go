package flipdcmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/flipd/flipd/engine"
)

// adminClient talks to a running flipd's admin API.
type adminClient struct {
	base  string // "http://127.0.0.1:2019"
	http  *http.Client
	token string
}

// adminFlags adds --address, --token and --config (for their defaults)
// to fs; call resolve after parsing.
type adminFlags struct {
	address, token, config *string
}

func addAdminFlags(fs *flag.FlagSet, configUsage string) adminFlags {
	return adminFlags{
		address: fs.String("address", "", "the admin API's `address` (host:port, or a unix socket path); default: the config's admin.listen, else "+engine.DefaultAdminListen),
		token:   fs.String("token", os.Getenv("FLIPD_ADMIN_TOKEN"), "bearer `token` for the admin API (default $FLIPD_ADMIN_TOKEN, or the config's admin.token)"),
		config:  fs.String("config", "", configUsage),
	}
}

// client resolves the admin address: --address, else the config file's
// admin.listen, else the default.
func (f adminFlags) client() (*adminClient, error) {
	adminCfg := engine.AdminConfig{Listen: *f.address, Token: *f.token}
	if *f.config != "" && (*f.address == "" || *f.token == "") {
		raw, err := os.ReadFile(*f.config)
		if err != nil {
			return nil, err
		}
		cfg, err := engine.ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		if adminCfg.Listen == "" {
			adminCfg.Listen = cfg.Admin.Listen
		}
		if adminCfg.Token == "" {
			adminCfg.Token = cfg.Admin.Token
		}
	}
	// The client may talk to a non-loopback admin API with a token; the
	// server enforces the rule, not the client.
	probe := adminCfg
	probe.Token = "x"
	addr, err := probe.Address()
	if err != nil {
		return nil, fmt.Errorf("%w: --address: %v", errUsage, err)
	}
	c := &adminClient{token: adminCfg.Token}
	tr := &http.Transport{}
	if addr.Network == "unix" {
		path := addr.Addr
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = "http://localhost"
	} else {
		c.base = "http://" + addr.Addr
	}
	c.http = &http.Client{Transport: tr}
	return c, nil
}

// do sends a request; a non-2xx answer becomes an error carrying the
// server's message.
func (c *adminClient) do(method, path string, body []byte, accept string) (*http.Response, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, serverError(resp)
	}
	return resp, nil
}

func serverError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return fmt.Errorf("%s (%d)", e.Error, resp.StatusCode)
	}
	return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
}

// reload posts to /load or /upgrade, printing each step as the server
// reports it, and returns the server's error if the new generation does
// not serve.
func (c *adminClient) reload(path string, body []byte, out io.Writer) error {
	start := time.Now()
	resp, err := c.do(http.MethodPost, path, body, "application/x-ndjson")
	// A generation that has just handed over may still accept one last
	// connection on the admin socket and answer that it has: the next
	// connection reaches the new one.
	for i := 0; err != nil && strings.Contains(err.Error(), "already handed over") && i < 10; i++ {
		time.Sleep(20 * time.Millisecond)
		resp, err = c.do(http.MethodPost, path, body, "application/x-ndjson")
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") {
		var res engine.ReloadResult
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		printResult(out, res, time.Since(start))
		return nil
	}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		var line struct {
			Progress *engine.Progress     `json:"progress"`
			Result   *engine.ReloadResult `json:"result"`
			Error    string               `json:"error"`
		}
		if err := json.Unmarshal(s.Bytes(), &line); err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		switch {
		case line.Progress != nil:
			printProgress(out, *line.Progress)
		case line.Result != nil:
			printResult(out, *line.Result, time.Since(start))
			return nil
		case line.Error != "":
			return errors.New(line.Error)
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	return errors.New("the admin API closed the answer before the result")
}

func printProgress(out io.Writer, p engine.Progress) {
	switch p.Step {
	case "validated":
		fmt.Fprintf(out, "config is valid; starting generation %d\n", p.Generation)
	case "started":
		fmt.Fprintf(out, "generation %d started (pid %d)\n", p.Generation, p.Pid)
	case "ready":
		fmt.Fprintf(out, "generation %d is ready (pid %d)\n", p.Generation, p.Pid)
	default:
		fmt.Fprintf(out, "%s: generation %d\n", p.Step, p.Generation)
	}
}

func printResult(out io.Writer, r engine.ReloadResult, took time.Duration) {
	fmt.Fprintf(out, "generation %d serves (pid %d), %s after the request; generation %d (pid %d) is draining %d %s\n",
		r.Generation, r.Pid, time.Duration(r.Duration).Round(10*time.Microsecond),
		r.Draining.Generation, r.Draining.Pid, r.Drains, plural(r.Drains, "connection"))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
