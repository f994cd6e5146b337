package drain

// Protocols returns the HTTP major version of each open connection as the
// drain classifies it, 0 if not known yet.
func (d *Server) Protocols() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var protos []int
	for c, ci := range d.conns {
		switch {
		case d.isHTTP2(c, ci, ci.view().state):
			protos = append(protos, 2)
		case ci.proto.Load() == protoHTTP1:
			protos = append(protos, 1)
		default:
			protos = append(protos, 0)
		}
	}
	return protos
}
