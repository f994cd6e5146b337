// Package standard registers the modules that ship with flipd. A custom
// build imports it (blank) next to its own modules.
package standard

import (
	_ "github.com/flipd/flipd/modules/flipdhttp"
	_ "github.com/flipd/flipd/modules/flipdtls"
	_ "github.com/flipd/flipd/modules/tcp"
	_ "github.com/flipd/flipd/modules/udp"
)
