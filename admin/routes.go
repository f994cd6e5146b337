package admin

import (
	"net/http"
	"slices"
	"strings"
)

// route is one endpoint: the handler of each method it answers.
type route map[string]http.HandlerFunc

// routes maps each path to its endpoint. Writes go through
// [Server.write], which checks the content type and bounds the body.
func (s *Server) routes() http.Handler {
	table := map[string]route{
		"/load":    {http.MethodPost: s.write(s.handleLoad)},
		"/upgrade": {http.MethodPost: s.write(s.handleUpgrade)},
		"/stop":    {http.MethodPost: s.write(s.handleStop)},
		"/config":  {http.MethodGet: s.handleConfig},
		"/status":  {http.MethodGet: s.handleStatus},
		"/metrics": {http.MethodGet: s.metrics.ServeHTTP},
		"/ready":   {http.MethodGet: s.handleReady},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := table[r.URL.Path]
		if !ok {
			writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
			return
		}
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet // net/http discards the body
		}
		h, ok := rt[method]
		if !ok {
			allow := rt.allow()
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+" is not allowed; use "+allow)
			return
		}
		h(w, r)
	})
}

// allow is the value of the Allow header for a route.
func (rt route) allow() string {
	var methods []string
	for m := range rt {
		methods = append(methods, m)
		if m == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
	}
	slices.Sort(methods)
	return strings.Join(methods, ", ")
}
