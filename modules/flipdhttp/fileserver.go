package flipdhttp

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(FileServer))
}

// FileServer is the "file_server" handler (ID http.handlers.file_server):
// it serves the files under a directory, with the request's path as the
// file's path under root: with root "/srv/www", "/static/app.js" is
// /srv/www/static/app.js.
//
//	{"module": "file_server", "root": "/srv/www", "index": ["index.html", "index.htm"]}
//
// It answers GET and HEAD, with ranges and conditional requests
// (If-Modified-Since and the like); other methods get 405. No request
// reaches a file outside root: paths with a ".." segment are refused with
// 403, and symbolic links are followed only while they stay inside root
// (others get 403). Files that are neither regular files nor directories
// are not served.
type FileServer struct {
	// Root is the directory to serve. Required; it must exist and be a
	// directory when the config is loaded. A relative path is taken from
	// the daemon's working directory. Root is opened anew for each request,
	// so that replacing the directory (a deploy that renames a new tree
	// into place) takes effect at once.
	Root string `json:"root"`

	// Index lists the file names tried, in order, when a request names a
	// directory. Default: ["index.html"].
	Index []string `json:"index,omitempty"`

	// Browse lists the files of a directory that has no index file.
	// Default: false, which answers such requests 404 Not Found.
	Browse bool `json:"browse,omitempty"`

	log hclog.Logger
}

// FlipdModule implements [flipd.Module].
func (*FileServer) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{
		ID:  "http.handlers.file_server",
		New: func() flipd.Module { return new(FileServer) },
	}
}

// Provision implements [flipd.Provisioner]: it checks that root is a
// directory that can be opened.
func (fsrv *FileServer) Provision(ctx flipd.Context) error {
	fsrv.log = ctx.Logger()
	if fsrv.Root == "" {
		return errors.New("root: required: name the directory to serve")
	}
	abs, err := filepath.Abs(fsrv.Root)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	fsrv.Root = abs
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("root: %s is not a directory", abs)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	root.Close()

	if len(fsrv.Index) == 0 {
		fsrv.Index = []string{"index.html"}
	}
	for i, name := range fsrv.Index {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			return fmt.Errorf("index[%d] %q: must be a file name, without a directory", i, name)
		}
	}
	return nil
}

// ServeHTTP implements [http.Handler].
func (fsrv *FileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if hasDotDot(r.URL.Path) {
		http.Error(w, "403 forbidden", http.StatusForbidden)
		return
	}
	// os.Root keeps every lookup, symbolic links included, inside root;
	// the checks above only give clearer answers.
	root, err := os.OpenRoot(fsrv.Root)
	if err != nil {
		fsrv.log.Error("opening root", "root", fsrv.Root, "error", err)
		http.Error(w, "500 internal server error", http.StatusInternalServerError)
		return
	}
	defer root.Close()

	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "."
	}
	fi, err := root.Stat(name)
	switch {
	case err != nil:
		fsrv.fail(w, r, err)
	case fi.IsDir():
		fsrv.serveDir(w, r, root, name)
	case !fi.Mode().IsRegular() || strings.HasSuffix(r.URL.Path, "/"):
		http.NotFound(w, r)
	default:
		fsrv.serveFile(w, r, root, name)
	}
}

// hasDotDot reports whether p has a ".." segment, with either slash as a
// separator (Windows takes both).
func hasDotDot(p string) bool {
	for seg := range strings.FieldsFuncSeq(p, func(c rune) bool { return c == '/' || c == '\\' }) {
		if seg == ".." {
			return true
		}
	}
	return false
}

func (fsrv *FileServer) serveDir(w http.ResponseWriter, r *http.Request, root *os.Root, name string) {
	if !strings.HasSuffix(r.URL.Path, "/") {
		// Relative links in the page need the slash. A relative
		// Location cannot send the client to another host.
		target := "./" + url.PathEscape(path.Base(r.URL.Path)) + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	for _, index := range fsrv.Index {
		p := path.Join(name, index)
		if fi, err := root.Stat(p); err == nil && fi.Mode().IsRegular() {
			fsrv.serveFile(w, r, root, p)
			return
		}
	}
	if !fsrv.Browse {
		http.NotFound(w, r)
		return
	}
	fsrv.browse(w, r, root, name)
}

func (fsrv *FileServer) serveFile(w http.ResponseWriter, r *http.Request, root *os.Root, name string) {
	f, err := root.Open(name)
	if err != nil {
		fsrv.fail(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		fsrv.fail(w, r, err)
		return
	}
	if !fi.Mode().IsRegular() { // replaced since the first look
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// fail answers a failed lookup: 404 for what does not exist, 403 for the
// rest, which includes links that lead out of root. Those are logged, as
// they point at a problem in the served tree.
func (fsrv *FileServer) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		http.NotFound(w, r)
	case errors.Is(err, fs.ErrPermission):
		http.Error(w, "403 forbidden", http.StatusForbidden)
	default:
		fsrv.log.Warn("refusing file", "root", fsrv.Root, "path", r.URL.Path, "error", err)
		http.Error(w, "403 forbidden", http.StatusForbidden)
	}
}

// Interface guards.
var (
	_ http.Handler      = (*FileServer)(nil)
	_ flipd.Provisioner = (*FileServer)(nil)
)
