package admin

import "net"

// listenAbstract listens on a socket of Linux's abstract namespace: there
// is no file, so nothing to create, chmod or remove. The config demands a
// token for it (engine.AdminConfig.Address).
func listenAbstract(network, addr string) (net.Listener, error) {
	return net.Listen(network, addr)
}
