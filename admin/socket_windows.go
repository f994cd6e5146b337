package admin

import (
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"
)

// listenPrivate refuses: Windows has no file mode to make a unix socket
// private (and flipd does not run there).
func listenPrivate(network, path string, _ hclog.Logger) (net.Listener, error) {
	return nil, fmt.Errorf("%s/%s: a unix socket admin API is not supported on windows", network, path)
}
