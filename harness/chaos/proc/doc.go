// Package proc is the wire between the chaos harness and its processor
// processes: the requests and responses on the Unix socket (procs.sock)
// on which the harness serves its open store and op gate, the harness's
// [Server] of them (over a [Backend] the runner implements), and the
// child's [Client]. docs/worker-protocol.md describes the wire with examples,
// with the worker's event stream beside it.
//
// # Basics
//
//	// In the harness:
//	srv, err := proc.Serve(ctx, filepath.Join(dir, proc.SocketName), backend)
//	defer srv.Close() // the protocol errors seen
//
//	// In a processor process:
//	c, err := proc.Dial(ctx, spec.Socket)
//	for c.Begin(true) { // waits for the op gate; false: the run is over
//		op, err := c.Claim(ctx, token) // a store call, over the socket
//		...
//		c.End()
//	}
//
// One JSON [Request] per line, one JSON [Response] per line, in order.
// Every response carries the workload's [Status]. A store error crosses
// the socket with the name of the sentinel it wraps, so errors.Is works
// in the child as in the harness ([ErrorResponse], [Response.AsError]).
//
// # Caveats
//
//   - A Client is for one goroutine: calls never overlap.
//   - A broken socket ([ErrBroken]) stops the client for good and calls
//     OnBreak; the call in flight is never known to have returned.
//   - A processor's clock reading travels with the call and the store
//     adds the time since it arrived, so the socket's latency does not
//     skew the clock, but it does add a round trip to each call.
package proc
