package flipdhttp

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(StaticResponse))
}

// StaticResponse is the "static_response" handler (ID
// http.handlers.static_response): it answers every request with the same
// status, headers and body.
//
//	{"module": "static_response", "status": 503, "body": "down for maintenance\n",
//	 "headers": {"Retry-After": ["120"]}}
type StaticResponse struct {
	// Status is the response's status code, from 200 to 599. Default: 200.
	Status int `json:"status,omitempty"`

	// Body is the response's body, sent as is. Without a Content-Type in
	// Headers, the type is guessed from the body's first bytes. Statuses
	// 204 and 304 take no body.
	Body string `json:"body,omitempty"`

	// Headers are added to the response, each name with its list of
	// values: {"Cache-Control": ["no-store"]}. Names are case-insensitive.
	Headers http.Header `json:"headers,omitempty"`
}

// FlipdModule implements [flipd.Module].
func (*StaticResponse) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{
		ID:  "http.handlers.static_response",
		New: func() flipd.Module { return new(StaticResponse) },
	}
}

// Provision implements [flipd.Provisioner]: it applies the default
// status and puts header names in canonical form.
func (sr *StaticResponse) Provision(flipd.Context) error {
	if sr.Status == 0 {
		sr.Status = http.StatusOK
	}
	h := make(http.Header, len(sr.Headers))
	for name, values := range sr.Headers {
		key := http.CanonicalHeaderKey(name)
		h[key] = append(h[key], values...)
	}
	sr.Headers = h
	return nil
}

// Validate implements [flipd.Validator].
func (sr *StaticResponse) Validate() error {
	if sr.Status < 200 || sr.Status > 599 {
		return fmt.Errorf("status: %d is not a final status code (200 to 599)", sr.Status)
	}
	if sr.Body != "" && !bodyAllowed(sr.Status) {
		return fmt.Errorf("body: status %d takes no body", sr.Status)
	}
	for name, values := range sr.Headers {
		if !isToken(name) {
			return fmt.Errorf("headers: %q is not a valid header name", name)
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("headers: %s: value %q holds a line break or NUL", name, v)
			}
		}
	}
	return nil
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// ServeHTTP implements [http.Handler].
func (sr *StaticResponse) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if len(sr.Headers) > 0 { // ranging over an empty map still costs an iterator
		h := w.Header()
		for name, values := range sr.Headers {
			h[name] = append(h[name], values...)
		}
	}
	w.WriteHeader(sr.Status)
	if sr.Body != "" {
		// net/http discards the body of a response to HEAD.
		_, _ = io.WriteString(w, sr.Body)
	}
}

// Interface guards.
var (
	_ http.Handler      = (*StaticResponse)(nil)
	_ flipd.Provisioner = (*StaticResponse)(nil)
	_ flipd.Validator   = (*StaticResponse)(nil)
)
