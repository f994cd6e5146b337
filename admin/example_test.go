package admin_test

import (
	"log"

	"github.com/flipd/flipd/admin"
	"github.com/flipd/flipd/runtime"
)

// The daemon gives each generation its admin API through runtime.Options;
// the runtime serves it on admin.listen and hands its socket over at every
// reload.
func ExampleNew() {
	in, err := runtime.Start(runtime.Options{
		Config: func() ([]byte, string, error) {
			return []byte(`{"admin": {"listen": "127.0.0.1:2019"}}`), "example", nil
		},
		Admin: func(in *runtime.Instance, cfg runtime.AdminConfig) (runtime.Server, error) {
			return admin.New(in, cfg, in.Logger())
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := in.Wait(); err != nil {
		log.Fatal(err)
	}
}
