package admin

import (
	"fmt"
	"os"
	"testing"

	"github.com/flipd/flipd/engine"
)

func TestAbstractAdminSocketServesWithoutAFile(t *testing.T) {
	name := fmt.Sprintf("@flipd-admin-test-%d", os.Getpid())
	cwd := t.TempDir()
	t.Chdir(cwd)
	b := newFake()
	cfg := engine.AdminConfig{Listen: "unix/" + name, Token: "t"}
	s, err := New(b, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.OpenListener("unix", name)
	if err != nil {
		t.Fatal(err)
	}
	ts := serveOn(t, b, cfg, ln)
	wantError(t, ts.do(t, request{method: "GET", path: "/status"}), 401, "token")
	if r := ts.do(t, request{method: "GET", path: "/status", header: map[string]string{"Authorization": "Bearer t"}}); r.status != 200 {
		t.Fatalf("GET /status with the token: %d %s", r.status, r.body)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) > 0 {
		t.Fatalf("an abstract socket created %q in the working directory", entries[0].Name())
	}
}
