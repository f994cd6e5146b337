package flipdhttp

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
)

// browse writes a directory listing: an HTML page of links, sorted by name.
func (fsrv *FileServer) browse(w http.ResponseWriter, r *http.Request, root *os.Root, name string) {
	dir, err := root.Open(name)
	if err != nil {
		fsrv.fail(w, r, err)
		return
	}
	defer dir.Close()
	entries, err := dir.ReadDir(-1)
	if err != nil {
		fsrv.fail(w, r, err)
		return
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	slices.Sort(names)

	var b strings.Builder
	title := html.EscapeString("Index of " + r.URL.Path)
	fmt.Fprintf(&b, "<!doctype html>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<h1>%s</h1>\n<ul>\n", title, title)
	if name != "." {
		b.WriteString("<li><a href=\"../\">../</a>\n")
	}
	for _, n := range names {
		// A URL with only a path, so that a name with ":" is not read
		// as a scheme.
		href := (&url.URL{Path: n}).String()
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a>\n", html.EscapeString(href), html.EscapeString(n))
	}
	b.WriteString("</ul>\n")

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(b.String()))
}
