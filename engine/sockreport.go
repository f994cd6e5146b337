package engine

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
)

// reportOptions logs the options the kernel set on li's socket, and warns
// when it gave less buffer than asked: on Linux the limit is
// net.core.rmem_max (wmem_max), lifted only with CAP_NET_ADMIN.
func (li *listener) reportOptions(log hclog.Logger, st socketState) {
	recv, send := st.RecvBuffer, st.SendBuffer
	if kernelDoubles {
		recv, send = recv/2, send/2
	}
	args := []any{"reuse_port", st.ReusePort, "inherited", li.inherited}
	if li.opts.Backlog > 0 {
		args = append(args, "backlog", li.opts.Backlog)
	}
	args = append(args, "recv_buffer", recv, "send_buffer", send)
	log.Info("socket options", args...)
	for _, b := range []struct {
		key, sysctl string
		asked, got  int
	}{{"recv_buffer", "net.core.rmem_max", li.opts.RecvBuffer, recv}, {"send_buffer", "net.core.wmem_max", li.opts.SendBuffer, send}} {
		if b.asked > 0 && b.got < b.asked {
			log.Warn(fmt.Sprintf("the kernel set %s to %d bytes, less than the %d asked: raise %s, or give flipd CAP_NET_ADMIN", b.key, b.got, b.asked, b.sysctl),
				b.key, b.got, "asked", b.asked)
		}
	}
}
