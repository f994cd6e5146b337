package bench

import (
	"strings"
	"testing"
	"time"
)

func TestTheWSGoalsAreJudgedOnFlipdsHandoverRunAlone(t *testing.T) {
	clean := func() *Report {
		var ups []Upgrade
		for i := range 4 {
			ups = append(ups, Upgrade{Index: i, OldPid: 10 + i, NewPid: 11 + i, Ready: 15 * time.Millisecond,
				Exited: 15*time.Millisecond + time.Duration(i+1)*10*time.Millisecond})
		}
		ok := WSResult{Server: "flipd", Conns: 200, Streams: 20, Upgrades: ups, OpenAtUpgrade: []int{220, 220, 220, 220},
			Load: WSLoadResult{WS: ConnStats{Wanted: 200, Opened: 200}, TCP: ConnStats{Wanted: 20, Opened: 20},
				Messages: seqCounts{Sent: 8000, Echoed: 8000}, BytesWritten: 1 << 20, BytesVerified: 1 << 20}}
		// The others lose everything: they are reported, not judged.
		bad := ok
		bad.Server = "nginx"
		bad.Load.WS.Lost, bad.Load.WS.LostBy = 800, map[string]int{"eof, no close frame": 800}
		bad.Load.Messages.LostCut = 40
		return &Report{Upgrades: 4, Interval: 250 * time.Millisecond, WS: []WSResult{ok, bad}}
	}
	for _, tc := range []struct {
		name   string
		spoil  func(r *WSResult)
		failed string // in FlipdFailures; "" for none
		notMet string // a goal not met; "" for none
	}{
		{"clean", func(*WSResult) {}, "", ""},
		{"a websocket lost", func(r *WSResult) {
			r.Load.WS.Lost, r.Load.WS.LostBy = 1, map[string]int{"close 1001": 1}
		}, "1 connections lost (websockets: close 1001 1", "0 connections lost"},
		{"a stream lost", func(r *WSResult) {
			r.Load.TCP.Lost, r.Load.TCP.LostBy = 1, map[string]int{"reset": 1}
		}, "tcp streams: reset 1", "0 connections lost"},
		{"a message lost in a gap", func(r *WSResult) { r.Load.Messages.LostGap = 1 }, "1 messages lost", "0 messages lost"},
		{"a message echoed twice", func(r *WSResult) { r.Load.Messages.Duplicate = 1 }, "1 duplicated, reordered or wrong", "0 messages lost"},
		{"a message reordered", func(r *WSResult) { r.Load.Messages.Reordered = 1 }, "1 duplicated, reordered or wrong", "0 messages lost"},
		{"a wrong echo", func(r *WSResult) { r.Load.WrongEchoes = 1 }, "1 duplicated, reordered or wrong", "0 messages lost"},
		{"stream bytes skipped", func(r *WSResult) {
			r.Load.StreamFaults = map[streamVerdict]int{streamSkipped: 1}
		}, "1 duplicated, reordered or wrong", "0 messages lost"},
		{"stream bytes lost at a cut", func(r *WSResult) { r.Load.BytesLost = 4096 }, "4096 stream bytes lost", "0 messages lost"},
		{"old generations too slow", func(r *WSResult) {
			for i := range r.Upgrades {
				r.Upgrades[i].Exited = r.Upgrades[i].Ready + 2*time.Second
			}
		}, "", "old generations gone"},
		{"an upgrade failed", func(r *WSResult) { r.Upgrades[2].Err = "POST /load: 500" }, "upgrade 2: POST /load: 500", ""},
		{"cut short by the budget", func(r *WSResult) { r.Upgrades = r.Upgrades[:2] }, "", "0 connections lost"},
		{"did not start", func(r *WSResult) { r.Err = "flipd did not start" }, "flipd did not start", "the run did not happen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := clean()
			tc.spoil(&rep.WS[0])
			failed := strings.Join(rep.FlipdFailures(), "\n")
			if tc.failed == "" && failed != "" || !strings.Contains(failed, tc.failed) {
				t.Errorf("failures %q, want %q", failed, tc.failed)
			}
			var notMet []string
			for _, c := range rep.Checks() {
				if !c.Met {
					notMet = append(notMet, c.Target+": "+c.Measured)
				}
			}
			got := strings.Join(notMet, "\n")
			if tc.notMet == "" && got != "" || !strings.Contains(got, tc.notMet) {
				t.Errorf("goals not met %q, want %q", got, tc.notMet)
			}
			if md := rep.Markdown(); !strings.Contains(md, "| flipd | ") || !strings.Contains(md, "| nginx | ") {
				t.Errorf("the table lacks a server:\n%s", md)
			}
		})
	}
}
