package fault

import "sync"

// Gate hands out op tickets to the workload's workers and stops every
// worker at an op position until the faults planned there have run: the
// worker that would take op number N waits until ops 0..N-1 have returned,
// the faults at N run with the workload stopped, then every worker goes on.
type Gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	issued   int64
	total    int64
	inflight int
	paused   bool
	stopped  bool
	faults   []PlannedFault
	next     int
	apply    func(PlannedFault)
}

// NewGate returns a gate for total ops that runs apply for each of faults
// (in schedule order) at its op position.
func NewGate(total int64, faults []PlannedFault, apply func(PlannedFault)) *Gate {
	g := &Gate{total: total, faults: faults, apply: apply}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// Begin waits for the gate and takes a ticket. A counted op gets the next
// op number; false means the run is over.
func (g *Gate) Begin(counted bool) (int64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		switch {
		case g.stopped:
			return 0, false
		case g.paused:
			g.cond.Wait()
			continue
		case !counted:
			g.inflight++
			return 0, true
		case g.next < len(g.faults) && g.faults[g.next].Op <= g.issued:
			g.runFaultsLocked()
			continue
		case g.issued >= g.total:
			return 0, false
		}
		k := g.issued
		g.issued++
		g.inflight++
		return k, true
	}
}

// runFaultsLocked pauses the workload, waits for in-flight ops and runs the
// faults due at the current op count.
func (g *Gate) runFaultsLocked() {
	g.paused = true
	for g.inflight > 0 {
		g.cond.Wait()
	}
	for g.next < len(g.faults) && g.faults[g.next].Op <= g.issued {
		f := g.faults[g.next]
		g.next++
		g.mu.Unlock()
		g.apply(f)
		g.mu.Lock()
	}
	g.paused = false
	g.cond.Broadcast()
}

// End gives a ticket back.
func (g *Gate) End() {
	g.mu.Lock()
	g.inflight--
	if g.inflight == 0 {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// Finish runs the op faults the workload did not reach.
func (g *Gate) Finish() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next < len(g.faults) {
		g.issued = max(g.issued, g.faults[len(g.faults)-1].Op)
		g.runFaultsLocked()
	}
}

// InFlight is the number of tickets taken and not given back.
func (g *Gate) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight
}
