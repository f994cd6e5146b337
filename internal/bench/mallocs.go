package bench

import (
	"bufio"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// mallocsMetric is the Go runtime's count of heap allocations, as
// flipd's GET /metrics and the bare server's stats listener give it.
const mallocsMetric = "go_memstats_mallocs_total"

// statsClient opens a connection for each reading, so that each costs
// the server the same allocations.
var statsClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// mallocs reads the count of heap allocations a server has made from
// url, an answer in Prometheus's text format.
func mallocs(url string) (uint64, error) {
	resp, err := statsClient.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMallocs(bufio.NewScanner(resp.Body), url)
}

func parseMallocs(sc *bufio.Scanner, url string) (uint64, error) {
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), mallocsMetric+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("GET %s: %s: %w", url, mallocsMetric, err)
		}
		return uint64(f), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
	}
	return 0, fmt.Errorf("GET %s: no %s", url, mallocsMetric)
}

// serveMallocs answers mallocsMetric for this process, as flipd's
// /metrics does for its own: the bare server's stats listener.
func serveMallocs(w http.ResponseWriter, _ *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "%s %d\n", mallocsMetric, m.Mallocs)
}
