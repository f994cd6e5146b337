// Command flipd-bench sends load to flipd while it upgrades, over and over,
// and does the same to nginx doing its binary upgrade and to flipd
// stopped and started again, so that one table shows what each costs the
// clients. It can also measure flipd's other targets: the POST /load
// round trip, the cost per listener, throughput against a bare net/http
// server, the drain of many idle connections, and idle memory.
//
//	go run ./cmd/flipd-bench -upgrades 100 -rate 2000 -targets -out docs/bench
//
// With -soak it upgrades one flipd -upgrades times under load instead and
// compares the last generation's descriptors, goroutines, memory and
// processes with generation 1's; it exits 1 beyond the tolerances or on
// any failed request:
//
//	go run ./cmd/flipd-bench -soak -upgrades 1000
//
// With -modes ws it measures long-lived connections instead: 200
// WebSockets and 20 TCP streams through flipd's proxies while it upgrades,
// with connection handover and without, side by side with nginx; it exits
// 1 if flipd with handover lost a connection or a message:
//
//	go run ./cmd/flipd-bench -modes ws -upgrades 100 -out docs/bench/ws
//
// With -modes h3 it sends POSTs over 16 long-lived HTTP/3 connections
// (quic-go's client) while flipd upgrades, with QUIC forwarding between
// generations and with it switched off ("http3_forward": false); it exits
// 1 if flipd with forwarding failed a request or lost a connection:
//
//	go run ./cmd/flipd-bench -modes h3 -upgrades 100 -rate 2000 -out docs/bench/h3
//
// It runs on Linux, on loopback only. It exits 1 if any of flipd's own
// runs failed a request (the naive restart is expected to, and nginx's
// failures are reported, not judged).
package main

func main() { run() }
