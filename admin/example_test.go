package admin_test

import (
	"log"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/admin"
	"github.com/flipd/flipd/engine"
)

// The daemon gives each generation its admin API through engine.Options;
// the runtime serves it on admin.listen and hands its socket over at every
// reload.
func ExampleNew() {
	in, err := engine.Start(engine.Options{
		Config: func() ([]byte, string, error) {
			return []byte(`{"admin": {"listen": "127.0.0.1:2019"}}`), "example", nil
		},
		Admin: func(in *engine.Instance, cfg engine.AdminConfig) (flipd.Server, error) {
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
