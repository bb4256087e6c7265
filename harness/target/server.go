package target

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Handler answers requests in a Go target. Handle is called from many
// goroutines at once, one per request in flight. It returns the reply's
// result fields (the ID is filled in by Serve) or an error, which Serve
// sends with its class from ErrorClass: return ErrUnsupported for a
// request type the target does not answer, and an *Error to pick a class.
type Handler interface {
	Handle(ctx context.Context, req Request) (Reply, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req Request) (Reply, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, req Request) (Reply, error) { return f(ctx, req) }

// Serve reads requests from r, one JSON object a line, dispatches each to
// h in its own goroutine and writes each reply to w as one line, whole,
// as it is ready. It returns when r ends and every reply is written, or
// when ctx has ended by the time the next line arrives. A line that is not
// a request is answered with id 0 and the class other, and serving goes on.
func Serve(ctx context.Context, r io.Reader, w io.Writer, h Handler) error {
	var wmu sync.Mutex
	var werr error
	bw := bufio.NewWriter(w)
	write := func(rep Reply) {
		b, err := json.Marshal(rep)
		if err != nil {
			b, _ = json.Marshal(Reply{ID: rep.ID, Error: Errorf(ClassOther, "encoding the reply: %v", err)})
		}
		wmu.Lock()
		defer wmu.Unlock()
		if werr != nil {
			return
		}
		bw.Write(append(b, '\n'))
		werr = bw.Flush()
	}
	var wg sync.WaitGroup
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	for sc.Scan() {
		if ctx.Err() != nil {
			break
		}
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil || req.ID == 0 {
			if err == nil {
				err = fmt.Errorf("no id")
			}
			write(Reply{Error: Errorf(ClassOther, "not a request: %v", err)})
			continue
		}
		wg.Go(func() {
			rep, err := h.Handle(ctx, req)
			if err != nil {
				rep = Reply{Error: WireError(err)}
			}
			rep.ID = req.ID
			write(rep)
		})
	}
	wg.Wait()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading requests: %w", err)
	}
	if werr != nil {
		return fmt.Errorf("writing replies: %w", werr)
	}
	return ctx.Err()
}
