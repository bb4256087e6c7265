package history

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Follow records into h, as they arrive, the events another recorder
// streams on r: a recorder whose Sink is the other end of r, in a child
// process say. Call lines become calls, return lines their returns and
// whole lines whole events, each with the times it carries (so both
// recorders must read one clock, see ClockSince) and a new index in h. If
// h has a Sink it passes each on at once, so a history streams up through
// a chain of processes.
//
// accept, when not nil, vets each call and whole event before it is
// recorded. Follow returns nil at the end of r. Otherwise it stops at the
// first line it cannot take, and returns a *HistoryError wrapping
// ErrTornHistory for a last line cut short (as a killed writer leaves it),
// or ErrBadHistory for a line that is not an event or that accept refused.
// Calls already recorded whose return never came stay never-returned.
func (h *History) Follow(r io.Reader, name string, accept func(HistoryEvent) error) error {
	br := bufio.NewReader(r)
	var (
		evs      []HistoryEvent   // the stream's events, as ReadHistory reads them
		pos      = map[int]int{}  // the stream's index -> position in evs
		returned = map[int]bool{} // by the stream's index
		mine     = map[int]int{}  // the stream's index -> index in h
	)
	for lineNo := 1; ; lineNo++ {
		line, rerr := histReadLine(br)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			if errors.Is(rerr, errHistLineTooLong) {
				return histLineErr(name, lineNo, ErrBadHistory, rerr)
			}
			return &HistoryError{File: name, Line: lineNo, Err: fmt.Errorf("read: %w", rerr)}
		}
		if len(line) == 0 && rerr != nil {
			return nil
		}
		torn := rerr != nil // the stream ended without a newline
		w, err := histDecodeLine(line)
		if err == nil {
			err = histAddLine(&evs, pos, returned, w)
		}
		if err == nil && w.Phase != histPhaseReturn && accept != nil {
			err = accept(evs[pos[w.I]])
		}
		if err != nil {
			if torn {
				return histLineErr(name, lineNo, ErrTornHistory, err)
			}
			return histLineErr(name, lineNo, ErrBadHistory, err)
		}
		h.follow(evs[pos[w.I]], w.Phase, mine)
		if torn {
			return nil
		}
	}
}

// follow records one line of a followed stream, ev being its event as read
// so far.
func (h *History) follow(ev HistoryEvent, phase string, mine map[int]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch phase {
	case histPhaseWhole:
		theirs := ev.Index
		mine[theirs] = h.appendLocked(ev)
	case histPhaseCall:
		theirs := ev.Index
		ev.Index = len(h.events)
		mine[theirs] = ev.Index
		h.events = append(h.events, ev)
		h.returned = append(h.returned, false)
		h.emitLocked(histWireFrom(ev, histPhaseCall))
	case histPhaseReturn:
		i := mine[ev.Index]
		ev.Index = i
		h.events[i] = ev
		h.returned[i] = true
		h.emitLocked(histWireFrom(ev, histPhaseReturn))
	}
}
