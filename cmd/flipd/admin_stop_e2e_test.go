//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// keepAlive is one admin connection the test holds open across requests.
type keepAlive struct {
	conn net.Conn
	r    *bufio.Reader
	host string
}

func dialKeepAlive(t *testing.T, admin string) *keepAlive {
	t.Helper()
	c, err := net.DialTimeout("tcp", admin, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{conn: c, r: bufio.NewReader(c), host: admin}
}

// send writes one request on the connection and returns its answer, with
// the body read; an error means the server had closed the connection.
func (k *keepAlive) send(method, path, body string, header ...string) (*http.Response, string, error) {
	req, err := http.NewRequest(method, "http://"+k.host+path, strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	k.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(k.conn); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(k.r, req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

func TestAdminStopAfterHandoverIsRefusedOnAKeptConnection(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, adminConfig(admin, addr, "one"))
	for attempt := 1; ; attempt++ {
		if attempt > 5 {
			t.Fatalf("in 5 reloads the kept connection never reached the old generation after its handover; log:\n%s", d.log())
		}
		old := d.pid()
		kept := dialKeepAlive(t, admin)
		loader := dialKeepAlive(t, admin)
		body := fmt.Sprint("try", attempt)
		// Load with the progress stream, and use the kept connection
		// while the new generation starts: it is fresh, not idle, when
		// the old generation begins to drain.
		req, _ := http.NewRequest("POST", "http://"+admin+"/load", strings.NewReader(adminConfig(admin, addr, body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/x-ndjson")
		if err := req.Write(loader.conn); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(loader.r, req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST /load: %v %v", err, resp)
		}
		lines := bufio.NewScanner(resp.Body)
		var result map[string]any
		keptFresh := false
		for lines.Scan() {
			var line map[string]any
			json.Unmarshal(lines.Bytes(), &line)
			if p, ok := line["progress"].(map[string]any); ok && p["step"] == "started" {
				r, _, err := kept.send("GET", "/status", "")
				keptFresh = err == nil && r.StatusCode == 200 && !r.Close
			}
			if r, ok := line["result"].(map[string]any); ok {
				result = r
			}
			if line["error"] != nil {
				t.Fatalf("POST /load failed: %s", lines.Bytes())
			}
		}
		resp.Body.Close()
		if result == nil {
			t.Fatalf("POST /load gave no result; log:\n%s", d.log())
		}
		newPid := int(result["pid"].(float64))
		if !keptFresh {
			t.Logf("attempt %d: the kept connection was already draining; trying again", attempt)
			d.waitFor("the new generation's pid file", func() bool { return d.pid() == newPid })
			continue
		}
		r, answer, err := kept.send("POST", "/stop", "{}")
		if err != nil {
			t.Logf("attempt %d: the old generation closed the kept connection first (%v); trying again", attempt, err)
			d.waitFor("the new generation's pid file", func() bool { return d.pid() == newPid })
			continue
		}
		if r.StatusCode != http.StatusConflict || !strings.Contains(answer, "already handed over") {
			t.Fatalf("POST /stop to generation pid %d after it handed over: %d %s; want 409 already handed over", old, r.StatusCode, answer)
		}
		if !strings.Contains(answer, fmt.Sprint(newPid)) {
			t.Errorf("the refusal does not name the generation that serves (pid %d): %s", newPid, answer)
		}
		// The new generation serves on, alone, once the old one drained.
		d.waitExit(old)
		d.waitFor("the new generation's pid file", func() bool { return d.pid() == newPid })
		waitAnswer(t, "http://"+addr+"/", body)
		if a := api(t, "GET", "http://"+admin+"/status", ""); a.status != 200 || answering(a).Pid != newPid || answering(a).State != "active" {
			t.Fatalf("GET /status after the refused stop: %d %s", a.status, a.raw)
		}
		return
	}
}
