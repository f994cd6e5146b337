package flipdcmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/engine"
)

func init() {
	register(command{name: "reload", usage: "--config FILE [--address ADDR]",
		short: "Send a config to the running flipd (POST /load) and wait until a new generation serves it.", run: cmdReload})
	register(command{name: "upgrade", usage: "[--address ADDR] [--config FILE]",
		short: "Re-execute the running flipd's binary with the config in effect (after replacing the binary).", run: cmdUpgrade})
	register(command{name: "stop", usage: "[--address ADDR] [--config FILE]",
		short: "Stop the running flipd gracefully: it drains, then exits.", run: cmdStop})
	register(command{name: "status", usage: "[--address ADDR] [--config FILE] [--json]",
		short: "Show every live generation and the last upgrades.", run: cmdStatus})
}

const configForAddress = "a config `file` to read the admin address (and token) from"

func cmdReload(args []string) error {
	fs := newFlags(commands["reload"])
	af := addAdminFlags(fs, "the config `file` to load (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *af.config == "" {
		return fmt.Errorf("%w: --config is required", errUsage)
	}
	raw, err := os.ReadFile(*af.config)
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	return c.reload("/load", raw, os.Stdout)
}

func cmdUpgrade(args []string) error {
	fs := newFlags(commands["upgrade"])
	af := addAdminFlags(fs, configForAddress)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	return c.reload("/upgrade", []byte("{}"), os.Stdout)
}

func cmdStop(args []string) error {
	fs := newFlags(commands["stop"])
	af := addAdminFlags(fs, configForAddress)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	resp, err := c.do(http.MethodPost, "/stop", []byte("{}"), "")
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Println("stopping: the serving generation drains, then exits")
	return nil
}

// statusDoc is GET /status.
type statusDoc struct {
	Generations []struct {
		Generation    int            `json:"generation"`
		Pid           int            `json:"pid"`
		State         string         `json:"state"`
		Started       time.Time      `json:"started"`
		Uptime        flipd.Duration `json:"uptime"`
		OpenConns     *int           `json:"open_conns"`
		DrainingSince time.Time      `json:"draining_since"`
	} `json:"generations"`
	Upgrades      []engine.UpgradeRecord    `json:"upgrades"`
	SupervisorPID int                       `json:"supervisor_pid"`
	Standby       *engine.StandbyGeneration `json:"standby"`
}

func cmdStatus(args []string) error {
	fs := newFlags(commands["status"])
	af := addAdminFlags(fs, configForAddress)
	asJSON := fs.Bool("json", false, "print the admin API's JSON as it is")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	resp, err := c.do(http.MethodGet, "/status", nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if *asJSON {
		_, err := io.Copy(os.Stdout, resp.Body)
		return err
	}
	var doc statusDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return fmt.Errorf("reading /status: %w", err)
	}
	printStatus(os.Stdout, doc)
	return nil
}

func printStatus(out io.Writer, doc statusDoc) {
	if doc.SupervisorPID > 0 {
		fmt.Fprintf(out, "supervisor pid %d\n\n", doc.SupervisorPID)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GENERATION\tPID\tSTATE\tSTARTED\tUPTIME\tOPEN CONNS\tDRAINING SINCE")
	for _, g := range doc.Generations {
		conns, since := "-", "-"
		if g.OpenConns != nil {
			conns = fmt.Sprint(*g.OpenConns)
		}
		if !g.DrainingSince.IsZero() {
			since = g.DrainingSince.Local().Format(time.TimeOnly)
		}
		uptime := time.Duration(g.Uptime).Round(time.Second)
		if uptime == 0 && !g.Started.IsZero() {
			uptime = time.Since(g.Started).Round(time.Second)
		}
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", g.Generation, g.Pid, g.State,
			g.Started.Local().Format(time.DateTime), uptime, conns, since)
	}
	w.Flush()
	if sb := doc.Standby; sb != nil {
		state := "starting"
		if sb.Warm {
			state = "warm"
		}
		fmt.Fprintf(out, "\nstandby pid %d (%s): the next reload takes it\n", sb.Pid, state)
	}
	if len(doc.Upgrades) == 0 {
		return
	}
	fmt.Fprintln(out, "\nRECENT UPGRADES")
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "WHEN\tFROM\tTO\tRESULT\tDURATION\tERROR")
	for _, u := range doc.Upgrades {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\n", u.Started.Local().Format(time.DateTime), u.From, u.To, u.Result,
			time.Duration(u.Duration).Round(10*time.Microsecond), u.Error)
	}
	w.Flush()
}
