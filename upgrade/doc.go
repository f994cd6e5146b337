// Package upgrade hands a process's listening sockets to a fresh copy of
// its own executable, waits for the copy to say it is ready, and only then
// lets the old process stop accepting, drain and exit. If the copy fails
// (a bad config, a crash, a hang), the old process keeps serving and the
// caller learns why.
//
// It has the API of github.com/cloudflare/tableflip, so a program written
// for tableflip switches by changing one import:
//
//	import tableflip "github.com/flipd/flipd/upgrade"
//
// and it adds what tableflip lacks: a documented, versioned handshake; a
// typed error (*ChildError) that carries what the failed child reported;
// a payload and a generation number for the child (UpgradeWith, Payload,
// Generation); a new upgrade as soon as the process is ready, while older
// generations still drain (Options.MaxDraining); systemd notification and
// socket activation; established connections that move to the new
// generation (OfferConns, AcceptConn, ConnSender). Package upgradetest has stubs with the same method
// set, for tests and for platforms without support.
//
// # Usage
//
//	upg, err := upgrade.New(upgrade.Options{PIDFile: "/run/app.pid"})
//	if err != nil { ... }
//	defer upg.Stop()
//
//	go func() { // upgrade on SIGHUP
//		for range sighup {
//			if err := upg.Upgrade(); err != nil {
//				log.Println("upgrade failed, still serving:", err)
//			}
//		}
//	}()
//
//	ln, err := upg.Listen("tcp", "127.0.0.1:8080") // inherited, or new
//	srv := &http.Server{Handler: h}
//	d := drain.New(srv, drain.Options{})            // see drain
//	go d.Serve(ln)
//	if err := upg.Ready(); err != nil { ... }
//	<-upg.Exit()
//	d.Shutdown(ctx)                                 // drain, then exit
//
// # The handshake, version 1
//
// The old generation (the parent) starts the executable it was started
// from, resolved to an absolute path when the process started (so a binary
// replaced at that path is what runs), with the same arguments and
// environment, plus:
//
//   - FLIPD_UPGRADE=1 in the environment: the protocol version. A child
//     that does not speak it reports an error (below) and exits.
//
//   - fd 3: the read end of a pipe holding one JSON document, then EOF:
//
//     {"version": 1, "generation": 5, "parent_pid": 1234,
//     "executable": "/usr/bin/app",
//     "files": [{"kind": "listener", "network": "tcp", "addr": "127.0.0.1:8080", "fd": 6}, ...],
//     "draining": [{"pid": 1200, "generation": 3, "fd": 7}, {"pid": 1234, "generation": 4, "fd": 5}],
//     "payload": "<base64>", "report_sockets": true}
//
//     "files" lists every descriptor handed over and where it is: kind is
//     "listener", "packet", "conn" or "fd" (a plain file, whose name is in
//     "addr"). "payload" is the caller's, opaque here. "draining" lists the
//     older generations still alive, oldest first, the parent last. Every
//     "fd" is above 4 and appears once; "generation" is 2 or more.
//     "report_sockets" (optional, added within version 1) asks for the
//     "socket" lines below; a child ignores fields it does not know, so
//     parents and children of earlier builds of version 1 work with this
//     one in both directions.
//
//   - fd 4: the write end of the status pipe. The child writes lines of
//     JSON, each at most 64 KiB (Fail cuts a longer message): when
//     "report_sockets" is set, {"status": "socket", "pid": 1300, "path":
//     "/run/app.sock", "ino": 42} for each unix socket file it creates
//     before it is ready; then exactly one of {"status": "ready", "pid":
//     1300} once it serves (Ready), or {"status": "error", "pid": 1300,
//     "error": "..."} if it cannot (Fail, a failed Ready, or a handshake it
//     does not understand).
//
// FLIPD_UPGRADE may leak into an environment that is not an upgrade's, so
// a child trusts nothing before it is checked: fds 3 and 4 must be the
// read and write ends of pipes, the document must arrive within 10
// seconds, and its "parent_pid" must be the child's parent (so a wrapper
// script between the two must exec). Otherwise New fails with an error
// that names the problem, and fd 4 is never written to (except to say the
// version in FLIPD_UPGRADE is not spoken, once both are pipes).
//
//   - fd 5, and the fd of every "draining" entry: the read end of a
//     liveness pipe whose write end only that generation holds, open until
//     it exits. EOF on it tells the child that generation has exited
//     (WaitForParent for the parent; DrainingPids for all).
//
// The child marks every inherited descriptor close-on-exec, so none leaks
// into programs it runs. The parent waits for the status line at most
// Options.UpgradeTimeout. "ready" completes the upgrade: Upgrade returns
// nil, the Exit channel closes, and the parent's copies of the sockets are
// closed (the kernel sockets live on in the child, so no connection in an
// accept queue is lost). Anything else fails it with a *ChildError: an
// "error" line (ReasonReported, with the child's message), EOF and exit
// (ReasonExited, with the exit status or signal), no answer in time
// (ReasonTimeout; the child is killed and reaped), Stop (ReasonStopped),
// an executable that is missing or not executable, or descriptors that
// cannot be passed (ReasonStart). A child that says "ready" and then
// exits still counts as a handover: the status line decides, not the exit.
//
// On an "error" line the parent answers at once and does not kill the
// child: it has stopped accepting and may finish requests it accepted, so
// it gets as long as the upgrade's timeout to exit by itself, and is then
// killed; it is reaped in the background either way (no zombie). Whenever
// the parent kills a child, on Linux it kills the child's descendants too
// (found through /proc; stopped first so that none can fork meanwhile),
// so that a wrapper script that does not exec leaves nothing behind. On a
// failure the parent also removes the unix socket files the child
// reported, once the child is gone, if each is still the same inode: never
// one the child inherited. A child that stops before it is ready removes
// those it created itself.
//
// # Moving connections (the connection channel, version 1)
//
// Listening sockets are not the only thing a process may hand over: an
// established connection (a TCP stream, a WebSocket tunnel) can move too,
// with the state its new owner needs to resume it, instead of keeping the
// old generation alive until it ends. On Linux each upgrade has a channel
// for that: a unix SOCK_SEQPACKET socketpair made by the parent, whose
// child end is one more inherited descriptor, named in the handshake
// document as
//
//	"conns": {"version": 1, "fd": 9}
//
// (an optional field within version 1: a child of an earlier build
// ignores it and adopts nothing; a parent of an earlier build, or on
// another platform, sends none, and the child's OfferConns and
// AcceptConn do nothing). Each message is one packet, which arrives
// whole with its descriptors or not at all. A message starts with its
// version (1) and its type; numbers are big-endian:
//
//	hello  child -> parent:  1 'H' count:u16 (len:u16 key)...
//	conn   parent -> child:  1 'C' len:u16 key len:u32 state   + 1..8 descriptors (SCM_RIGHTS)
//	end    parent -> child:  1 'E'
//
// In this order: the child sends its hello (OfferConns: the keys of the
// connections it adopts, possibly none) before it reports ready; a child
// that sends none adopts nothing. Only once the child is ready does the
// parent read the hello (it is queued by then, so nothing waits on a
// child that sent none) and then send conn messages, for keys the hello
// named only (ConnSender.Send), then end, and close (ConnSender.Close;
// its exit does the same). If the child fails before it is ready, the
// parent closes the channel and nothing has moved. A key is 1 to 1024
// bytes; state at most 128 KiB (MaxConnState); a hello at most about as
// large as one conn message. The child closes the descriptors of a
// message it cannot use (malformed, or of a key it did not offer). The
// sockets are passed, not copied: bytes in their kernel buffers move with
// them, and the parent closing its copies sends no FIN.
//
// # Standby
//
// With Options.Standby (or EnableStandby), a generation starts its
// successor ahead of time, once it is ready: the same executable, with the
// same handshake except that FLIPD_UPGRADE is "standby-1" and the first
// document has "standby": true and no payload. The standby inherits the
// registry's descriptors as they are then, goes through the runtime's and
// its packages' initialisation and whatever the program does before New,
// makes listeners and packet conns of its inherited sockets, sends
// {"status": "standby", "pid": N} on fd 4 and waits in New, with no
// deadline, for a second document on fd 3: {"payload": "<base64>"}, then
// EOF. With it, New returns and the process is the new generation as if
// it had just been started: the rest of the handshake, Ready and the
// connection channel are as above. An upgrade thus costs what the program
// does after New, not a process start.
//
// An upgrade takes the standby only if it can stand for a process started
// now: it has said "standby" (one still starting is waited for, up to the
// upgrade's timeout), it has not exited, the executable at the path is
// still the file it was started from (same device, inode, size and
// modification time, looked up before it started), and the registry has
// not changed since. Otherwise the upgrade kills it and starts a new
// process as without a standby, so that an upgrade after a new binary was
// installed runs the new binary. A registry change (a listener added after
// Ready) replaces the standby at once: it holds copies of the sockets, and
// a socket the program replaced must not live on in it. A standby that
// exits before it is needed is replaced after a second, doubling with each
// one in a row that exits before it says "standby", up to a minute; Stop
// kills it, and one whose parent exits sees its pipe end and exits.
//
// An upgrade with UpgradeOptions.Verify (the daemon checks a new config
// so) activates the standby first, with {"payload": "<base64>", "verify":
// true}, and leaves fd 3 open: the standby's New returns, and the program
// prepares what it can before it serves while the parent runs Verify.
// Then comes {"verified": true} and EOF, or EOF alone for no, in which
// case the parent kills the standby, starts another, and the upgrade
// fails with Verify's error. Verified blocks until the verdict (Ready
// too, for a program that does not call it), and errs on a no: the
// program must stop without serving. Without a standby, Verify runs
// before the new process starts. RELOADING goes to systemd only once
// Verify said yes.
//
// A build from before standbys refuses "standby-1" (no version it speaks)
// with an "error" line and exits without serving; the upgrade then starts
// a new process. The standby costs a process's memory while it waits and
// holds copies of the listening sockets (it never accepts on them).
//
// # Ready, and when it fails
//
// Ready writes the PID file (if any) to a temporary file in its directory
// first, marks the process ready for upgrades, then renames the file into
// place (so that a SIGHUP sent the moment the PID file changes finds the
// process ready), tells systemd, and then the parent. If the PID file
// cannot be written, or Stop was called first ("stopped before ready"),
// Ready returns an error, as tableflip's does; the library does not decide
// for the program whether a PID file matters. In a new generation it
// first stops accepting (the listeners and packet conns the Upgrader
// handed out are closed; the kernel sockets live on in the parent), stops
// the Upgrader (Exit closes), and reports {"status": "error", "error":
// "pid file: ..."} to the parent at once, which goes on serving: the
// program drains what it accepted and exits. A final Stop removes the PID
// file if it still names this process.
//
// # Config-only upgrades
//
// UpgradeOptions.ConfigOnly says the caller wants the running program
// with a new payload, not a new binary: if the executable's path no longer
// exists (go run deletes its temporary binary), the running binary
// (/proc/self/exe, Linux only) is started instead and a warning is logged.
// The child is still told the original path, so a later upgrade picks up
// a binary put there. Without ConfigOnly a missing executable fails the
// upgrade (ReasonStart).
//
// # systemd
//
// When NOTIFY_SOCKET is set, Upgrade sends RELOADING=1 with MONOTONIC_USEC;
// the new generation sends MAINPID=<its pid> and READY=1 before it tells
// its parent (so systemd knows the new main process before the old one
// exits), and a failed upgrade sends READY=1 from the old one. Units need
// Type=notify and NotifyAccess=all; see examples/systemd. Sockets passed
// by socket activation (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) are
// inherited like a parent's, keyed by the address they are bound to.
package upgrade
