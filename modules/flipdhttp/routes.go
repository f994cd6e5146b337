package flipdhttp

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/flipd/flipd"
)

// HandlerNamespace is the module namespace of the handlers a route's
// "handle" can name. A handler module implements net/http's Handler.
const HandlerNamespace = "http.handlers"

// Route pairs a [Match] with the handler of the requests it selects.
// Routes are tried in the order of the config; the first route that
// matches handles the request, and a request no route matches is answered
// 404 Not Found.
type Route struct {
	// Match selects the requests of this route. A route without it
	// handles every request that reaches it: put it last, as a fallback.
	Match *Match `json:"match,omitempty"`

	// Handle is the handler, an object whose "module" key names a module
	// of namespace "http.handlers" and whose other keys configure it:
	//
	//	{"module": "static_response", "status": 200, "body": "hello"}
	//
	// Built in: "static_response", "reverse_proxy", "file_server",
	// "health".
	Handle json.RawMessage `json:"handle"`

	matcher *matcher
	handler http.Handler
}

// provision compiles the route's matchers and loads its handler.
func (rt *Route) provision(ctx flipd.Context) error {
	m, err := rt.Match.compile()
	if err != nil {
		return fmt.Errorf("match: %w", err)
	}
	mod, err := ctx.LoadModule(HandlerNamespace, rt.Handle)
	if err != nil {
		return fmt.Errorf("handle: %w", err)
	}
	h, ok := mod.(http.Handler)
	if !ok {
		return fmt.Errorf("handle: module %s is not an http.Handler", mod.FlipdModule().ID)
	}
	rt.matcher, rt.handler = m, h
	return nil
}

// router sends each request to the first route that matches it.
type router []*Route

// ServeHTTP implements [http.Handler].
func (rs router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, rt := range rs {
		if rt.matcher.match(r) {
			rt.handler.ServeHTTP(w, r)
			return
		}
	}
	http.NotFound(w, r)
}
