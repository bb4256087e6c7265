package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// The history.jsonl format, version 1. Every line is one JSON object with
// "v": 1 and "i", the event's index. A line is one of:
//
//   - a whole event: client, kind, queue, call, in, and either out with
//     ret, or out with outcome "unknown" and no ret, or (store-state) state;
//   - "phase": "call": the start of a call (client, kind, queue, call, in);
//   - "phase": "return": the end of call i (ret, out).
//
// A recorder with a Sink writes call and return lines as they happen; a
// call line with no return line is a call that never returned. WriteTo
// writes whole events. docs/checkers.md describes every field.

// HistoryFormatVersion is the version of the history.jsonl format.
const HistoryFormatVersion = 1

// histMaxLine bounds one line, so that garbage without newlines cannot
// exhaust memory. A store-state line lists every pending op: 64 MiB is
// about a million of them.
const histMaxLine = 64 << 20

const (
	histPhaseWhole  = ""
	histPhaseCall   = "call"
	histPhaseReturn = "return"
)

type histWire struct {
	V      int         `json:"v"`
	I      int         `json:"i"`
	Phase  string      `json:"phase,omitempty"`
	Client string      `json:"client,omitempty"`
	Kind   OpKind      `json:"kind,omitempty"`
	Queue  string      `json:"queue,omitempty"`
	Call   *int64      `json:"call,omitempty"`
	Ret    *int64      `json:"ret,omitempty"`
	In     *OpInput    `json:"in,omitempty"`
	Out    *OpOutput   `json:"out,omitempty"`
	State  *StoreState `json:"state,omitempty"`
	Fault  *Fault      `json:"fault,omitempty"`
}

func histWireFrom(e HistoryEvent, phase string) histWire {
	w := histWire{V: HistoryFormatVersion, I: e.Index, Phase: phase}
	if phase != histPhaseReturn {
		call := e.Call
		w.Client, w.Kind, w.Queue, w.Call = e.Client, e.Kind, e.Queue, &call
		if e.In != (OpInput{}) {
			in := e.In
			w.In = &in
		}
		w.State, w.Fault = e.State, e.Fault
	}
	if phase == histPhaseCall || e.Kind.observation() && phase == histPhaseWhole {
		if e.Kind.observation() {
			ret := e.Return
			w.Ret = &ret
		}
		return w
	}
	out := e.Out
	w.Out = &out
	if e.Return != ReturnUnknown {
		ret := e.Return
		w.Ret = &ret
	}
	return w
}

func histMarshalLine(w histWire) ([]byte, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// MarshalJSON encodes the event as a whole history.jsonl line (without the
// newline), so violations in reports read like the history file.
func (e HistoryEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(histWireFrom(e, histPhaseWhole))
}

// UnmarshalJSON decodes a whole history.jsonl line.
func (e *HistoryEvent) UnmarshalJSON(b []byte) error {
	var w histWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	ev, err := histEventFromWire(w)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

// histEventFromWire checks a whole-event line and turns it into an event.
func histEventFromWire(w histWire) (HistoryEvent, error) {
	if w.Phase != histPhaseWhole {
		return HistoryEvent{}, histFieldErr("phase", "a whole event has no phase, got %q", w.Phase)
	}
	ev, err := histCallFromWire(w)
	if err != nil {
		return ev, err
	}
	if w.Kind.observation() {
		if w.Out != nil {
			return ev, histFieldErr("out", "a %s event has no output", w.Kind)
		}
		ev.Out, ev.Return = OpOutput{}, ev.Call
		if w.Ret != nil {
			ev.Return = *w.Ret
		}
		return ev, ev.Validate()
	}
	if err := histApplyReturn(&ev, w); err != nil {
		return ev, err
	}
	return ev, ev.Validate()
}

func histCallFromWire(w histWire) (HistoryEvent, error) {
	if w.V != HistoryFormatVersion {
		return HistoryEvent{}, histFieldErr("v", "unsupported history format version %d; this reader knows %d", w.V, HistoryFormatVersion)
	}
	if w.I < 0 {
		return HistoryEvent{}, histFieldErr("i", "negative index %d", w.I)
	}
	if !w.Kind.Valid() {
		return HistoryEvent{}, histFieldErr("kind", "unknown kind %q", w.Kind)
	}
	if w.Call == nil {
		return HistoryEvent{}, histFieldErr("call", "missing")
	}
	if (w.State != nil) != (w.Kind == KindStoreState) {
		return HistoryEvent{}, histFieldErr("state", "only a store-state event carries a state, and it must")
	}
	if (w.Fault != nil) != (w.Kind == KindFault) {
		return HistoryEvent{}, histFieldErr("fault", "only a fault event carries a fault, and it must")
	}
	ev := HistoryEvent{Index: w.I, Client: w.Client, Kind: w.Kind, Queue: w.Queue, Call: *w.Call, Return: ReturnUnknown, State: w.State, Fault: w.Fault, Out: OpOutput{Outcome: OutcomeUnknown}}
	if w.In != nil {
		ev.In = *w.In
	}
	return ev, nil
}

func histApplyReturn(ev *HistoryEvent, w histWire) error {
	if w.Out == nil {
		return histFieldErr("out", "missing")
	}
	if !w.Out.Outcome.Valid() {
		return histFieldErr("out.outcome", "unknown outcome %q", w.Out.Outcome)
	}
	ev.Out = *w.Out
	switch {
	case w.Ret != nil:
		if *w.Ret < ev.Call {
			return histFieldErr("ret", "returns at %d, before its call at %d", *w.Ret, ev.Call)
		}
		ev.Return = *w.Ret
	case w.Out.Outcome != OutcomeUnknown:
		return histFieldErr("ret", "missing; only an unknown outcome may lack a return time")
	}
	return nil
}

type histFieldError struct {
	field string
	msg   string
}

func (e *histFieldError) Error() string { return "field " + e.field + ": " + e.msg }

func histFieldErr(field, format string, args ...any) error {
	return &histFieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// HistoryError is a problem at one line of a history file.
type HistoryError struct {
	File string // the name given to ReadHistory
	Line int    // from 1
	Err  error
}

// Error renders "file:line: what".
func (e *HistoryError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap returns the cause; errors.Is(err, ErrBadHistory) or
// errors.Is(err, ErrTornHistory) holds.
func (e *HistoryError) Unwrap() error { return e.Err }

func histLineErr(name string, line int, sentinel error, cause error) *HistoryError {
	return &HistoryError{File: name, Line: line, Err: fmt.Errorf("%w: %w", sentinel, cause)}
}

// histWriteEvents writes whole events as JSON lines.
func histWriteEvents(w io.Writer, evs []HistoryEvent) (int64, error) {
	bw := bufio.NewWriter(w)
	var n int64
	for _, e := range evs {
		line, err := histMarshalLine(histWireFrom(e, histPhaseWhole))
		if err != nil {
			return n, fmt.Errorf("write history event %d: %w", e.Index, err)
		}
		m, err := bw.Write(line)
		n += int64(m)
		if err != nil {
			return n, fmt.Errorf("write history: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write history: %w", err)
	}
	return n, nil
}

// WriteHistory writes events as history.jsonl, one whole event per line.
func WriteHistory(w io.Writer, events []HistoryEvent) error {
	_, err := histWriteEvents(w, events)
	return err
}

// ReadHistory reads a history.jsonl stream; name is used in errors. It
// accepts whole events and call/return lines in any mix, and returns the
// events in index order; calls with no return line come back crashed
// (OutcomeUnknown, ReturnUnknown).
//
// Bad input never panics: the error is a *HistoryError naming name and the
// line, wrapping ErrBadHistory. If only the last line is bad and lacks its
// newline, as when the writer was killed mid-line, the error wraps
// ErrTornHistory instead and the events before it are returned too.
func ReadHistory(r io.Reader, name string) ([]HistoryEvent, error) {
	br := bufio.NewReader(r)
	var (
		evs      []HistoryEvent
		pos      = map[int]int{} // index -> position in evs
		returned = map[int]bool{}
		lineNo   int
	)
	for {
		line, rerr := histReadLine(br)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			if errors.Is(rerr, errHistLineTooLong) {
				return nil, histLineErr(name, lineNo+1, ErrBadHistory, rerr)
			}
			return nil, &HistoryError{File: name, Line: lineNo + 1, Err: fmt.Errorf("read: %w", rerr)}
		}
		if len(line) == 0 && rerr != nil {
			break
		}
		lineNo++
		last := rerr != nil // EOF without a newline
		w, err := histDecodeLine(line)
		if err == nil {
			err = histAddLine(&evs, pos, returned, w)
		}
		if err != nil {
			if last && !bytes.HasSuffix(line, []byte("\n")) {
				return histSortByIndex(evs), histLineErr(name, lineNo, ErrTornHistory, err)
			}
			return nil, histLineErr(name, lineNo, ErrBadHistory, err)
		}
		if last {
			break
		}
	}
	return histSortByIndex(evs), nil
}

var errHistLineTooLong = fmt.Errorf("line longer than %d bytes", histMaxLine)

// histReadLine returns the next line with its newline, or what is left before
// EOF. It refuses lines longer than histMaxLine.
func histReadLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > histMaxLine {
			return nil, errHistLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

func histDecodeLine(line []byte) (histWire, error) {
	var w histWire
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return w, errors.New("blank line")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return w, fmt.Errorf("not a history event: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return w, errors.New("more than one JSON value on the line")
	}
	return w, nil
}

func histAddLine(evs *[]HistoryEvent, pos map[int]int, returned map[int]bool, w histWire) error {
	switch w.Phase {
	case histPhaseWhole, histPhaseCall:
		if _, dup := pos[w.I]; dup {
			return histFieldErr("i", "index %d appears twice", w.I)
		}
		var (
			ev  HistoryEvent
			err error
		)
		if w.Phase == histPhaseWhole {
			ev, err = histEventFromWire(w)
		} else {
			if w.Out != nil || w.Ret != nil || w.Kind.observation() {
				return histFieldErr("phase", "a call line has no out, ret, state or fault")
			}
			ev, err = histCallFromWire(w)
		}
		if err != nil {
			return err
		}
		pos[w.I] = len(*evs)
		returned[w.I] = w.Phase == histPhaseWhole
		*evs = append(*evs, ev)
	case histPhaseReturn:
		if w.V != HistoryFormatVersion {
			return histFieldErr("v", "unsupported history format version %d; this reader knows %d", w.V, HistoryFormatVersion)
		}
		if w.Client != "" || w.Kind != "" || w.Queue != "" || w.Call != nil || w.In != nil || w.State != nil || w.Fault != nil {
			return histFieldErr("phase", "a return line carries only i, ret and out")
		}
		p, ok := pos[w.I]
		if !ok {
			return histFieldErr("i", "return for call %d, which has no call line before it", w.I)
		}
		if returned[w.I] {
			return histFieldErr("i", "call %d returns twice", w.I)
		}
		ev := (*evs)[p]
		if err := histApplyReturn(&ev, w); err != nil {
			return err
		}
		returned[w.I] = true
		(*evs)[p] = ev
	default:
		return histFieldErr("phase", "unknown phase %q; want call, return or none", w.Phase)
	}
	return nil
}

func histSortByIndex(evs []HistoryEvent) []HistoryEvent {
	sort.Slice(evs, func(i, j int) bool { return evs[i].Index < evs[j].Index })
	return evs
}

// ReadHistoryFile reads a history.jsonl file; see ReadHistory.
func ReadHistoryFile(path string) ([]HistoryEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	return ReadHistory(f, path)
}

// WriteHistoryFile writes events to path as history.jsonl.
func WriteHistoryFile(path string, events []HistoryEvent) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	if err := WriteHistory(f, events); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}
