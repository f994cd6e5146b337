//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

// h3Post posts a small body over tr and checks the answer is a
// generation's ("genN").
func h3Post(tr *http3.Transport, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("payload"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "gen") {
		return fmt.Errorf("answered %d %q", resp.StatusCode, b)
	}
	return nil
}

// clientClosedOnGoaway: see quicroute's tests. quic-go's HTTP/3 client
// (v0.65.0) can close a connection itself (H3_NO_ERROR, local) when
// GOAWAY arrives just as it opens a request stream, before the request
// is written; the server never saw that request, upgrade or not.
func clientClosedOnGoaway(err error) bool {
	var h3 *http3.Error
	return errors.As(err, &h3) && !h3.Remote && h3.ErrorCode == http3.ErrCodeNoError
}

func TestTwentyReloadsUnderHTTP3LoadFailNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("20 reloads: not in -short")
	}
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "site", tlstest.LeafOptions{Names: []string{"127.0.0.1"}})
	addr := freeAddr(t)
	d := startFlipd(t, h3Site(addr, "127.0.0.1:9", leaf, "gen0"))

	var served, failed, races atomic.Int64
	var errMu sync.Mutex
	errs := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, QUICConfig: &quic.Config{MaxIdleTimeout: 5 * time.Second}}
		defer tr.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := h3Post(tr, "https://"+addr+"/")
				if clientClosedOnGoaway(err) {
					races.Add(1)
					err = h3Post(tr, "https://"+addr+"/")
				}
				if err != nil {
					failed.Add(1)
					errMu.Lock()
					errs[err.Error()]++
					errMu.Unlock()
					continue
				}
				served.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	pids := []int{d.pid()}
	for i := 1; i <= 20; i++ {
		if len(pids) >= 2 { // keep within max_draining
			d.waitExit(pids[len(pids)-2])
		}
		pids = append(pids, d.reload(h3Site(addr, "127.0.0.1:9", leaf, fmt.Sprint("gen", i))))
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d HTTP/3 POSTs over 20 reloads, %d failed, %d retried after the client's own GOAWAY race", served.Load(), failed.Load(), races.Load())
	if failed.Load() > 0 || served.Load() == 0 {
		t.Fatalf("%d of %d requests failed: %v", failed.Load(), served.Load()+failed.Load(), errs)
	}
}

func TestAFailedReloadLeavesHTTP3ServingInTheOldGeneration(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "site", tlstest.LeafOptions{Names: []string{"127.0.0.1"}})
	addr, other := freeAddr(t), freeAddr(t)
	good := h3Site(addr, "127.0.0.1:9", leaf, "gen1")
	d := startFlipd(t, good)
	clientTLS := &tls.Config{RootCAs: ca.Pool()}
	old := &http3.Transport{TLSClientConfig: clientTLS}
	defer old.Close()
	if body, err := h3Get(old, "https://"+addr+"/"); err != nil || body != "gen1" {
		t.Fatalf("before the reload: %q, %v", body, err)
	}
	// "web" starts its router (and reads the shared socket) before "x",
	// whose UDP port is taken, fails the start-up.
	taken, err := net.ListenPacket("udp", other)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	xListener := fmt.Sprintf(`"x": {"address": "tcp/%s", "module": "http", "http3": true, "wrappers": [%s]}, `, other, filesWrapper(leaf))
	bad := strings.Replace(h3Site(addr, "127.0.0.1:9", leaf, "gen2"), `"listeners": {`, `"listeners": {`+xListener, 1)
	logText := d.reloadFails(bad)
	if !strings.Contains(logText, "address already in use") {
		t.Fatalf("the failed reload's log does not say why:\n%s", logText)
	}
	for i := 0; i < 3; i++ {
		if body, err := h3Get(old, "https://"+addr+"/"); err != nil || body != "gen1" {
			t.Fatalf("the old connection after the failed reload: %q, %v", body, err)
		}
	}
	fresh := &http3.Transport{TLSClientConfig: clientTLS}
	defer fresh.Close()
	if body, err := h3Get(fresh, "https://"+addr+"/"); err != nil || body != "gen1" {
		t.Fatalf("a new connection after the failed reload: %q, %v", body, err)
	}
}

func TestHTTP3WithoutTLSIsRefusedBeforeANewGenerationStarts(t *testing.T) {
	addr := freeAddr(t)
	d := startFlipd(t, staticConfig(addr, "plain"))
	bad := strings.Replace(staticConfig(addr, "plain"), `"module": "http"`, `"module": "http", "http3": true`, 1)
	logText := d.reloadFails(bad)
	if !strings.Contains(logText, `http3: needs the \"tls\" wrapper`) {
		t.Fatalf("the refusal does not say why:\n%s", logText)
	}
	if strings.Contains(logText, "new_generation=") {
		t.Fatalf("a new generation was started for a config that cannot serve:\n%s", logText)
	}
}

// HTTP/3 takes the UDP port of its listener's TCP address; a udp listener
// on that port could never bind beside it (or would steal its packets
// with reuse_port), so the config is refused with both names.
func TestAUDPListenerOnTheHTTP3PortIsRefused(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "site", tlstest.LeafOptions{Names: []string{"127.0.0.1"}})
	cfg := strings.Replace(h3Site("127.0.0.1:8443", "127.0.0.1:1", leaf, "x"),
		`"listeners": {`, `"listeners": {"dns": {"address": "udp/0.0.0.0:8443", "module": "udp", "handle": {"module": "echo"}}, `, 1)
	file := filepath.Join(dir, "both.json")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(flipdBin, "validate", "--config", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `listener "dns" (udp/0.0.0.0:8443) takes the UDP port that listener "web" serves HTTP/3 on`) {
		t.Fatalf("flipd validate: %v\n%s", err, out)
	}
}
