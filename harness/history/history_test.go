package history_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/boxstorm/boxstorm/harness/history"
)

// TestHistory_Concurrent records from many goroutines at once (run it with
// -race): every call gets its own index, indexes follow call times, and
// every call's return is kept.
func TestHistory_Concurrent(t *testing.T) {
	h := history.NewHistory(history.HistoryOptions{})
	const workers, calls = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprintf("producer-%d", w)
			for i := range calls {
				c := h.Call(client, history.KindEnqueue, "", history.OpInput{PayloadHash: history.HashPayload([]byte{byte(w), byte(i)})})
				h.Return(c, history.OpOutput{Outcome: history.OutcomeOK, OpID: fmt.Sprintf("%s-%d", client, i)})
			}
			h.RecordState("harness", "", history.StoreState{})
		}()
	}
	wg.Wait()
	evs := h.Events()
	if got, want := len(evs), workers*(calls+1); got != want {
		t.Fatalf("%d events, want %d", got, want)
	}
	for i, e := range evs {
		if e.Index != i {
			t.Fatalf("event %d has index %d", i, e.Index)
		}
		if i > 0 && e.Call < evs[i-1].Call {
			t.Fatalf("event %d called at %d, before event %d at %d", i, e.Call, i-1, evs[i-1].Call)
		}
		if e.Kind == history.KindEnqueue && (e.Crashed() || e.Return < e.Call) {
			t.Fatalf("event %d not returned properly: %s", i, e)
		}
	}
	if err := h.Err(); err != nil {
		t.Fatal(err)
	}
}

// sample is a history with every kind of line: calls that returned, one
// that never did, and a store state.
func sampleHistory(t *testing.T, sink *bytes.Buffer) *history.History {
	t.Helper()
	now := int64(0)
	o := history.HistoryOptions{Clock: func() int64 { now += 7; return now }}
	if sink != nil {
		o.Sink = sink
	}
	h := history.NewHistory(o)
	a := h.Call("processor-1", history.KindAcquire, "", history.OpInput{Owner: "processor-1"})
	h.Return(a, history.OpOutput{Outcome: history.OutcomeOK, Token: 3})
	e := h.Call("producer-1", history.KindEnqueue, "", history.OpInput{PayloadHash: "ab", IdempotencyKey: "k", Subject: "alice"})
	h.Return(e, history.OpOutput{Outcome: history.OutcomeOK, OpID: "op-1", Seq: 1})
	c := h.Call("processor-1", history.KindClaim, "q2", history.OpInput{Token: 3})
	h.Return(c, history.OpOutput{Outcome: history.OutcomeStaleToken, Err: "stale fencing token"})
	h.Call("producer-2", history.KindEnqueue, "", history.OpInput{PayloadHash: "cd"}) // never returns
	h.RecordState("harness", "", history.StoreState{Restart: history.RestartProcess, CrashAt: 30,
		Pending: []history.StateOp{{ID: "op-1", Seq: 1, PayloadHash: "ab", Subject: "alice"}},
		Done:    []string{"op-0"}, Lock: &history.ObservedLock{Token: 3, Held: true, Owner: "processor-1"},
		Subjects: map[string]int{"alice": 1}})
	return h
}

// TestHistory_RoundTrip: what WriteTo writes, ReadHistory reads back
// exactly, crashed call included.
func TestHistory_RoundTrip(t *testing.T) {
	h := sampleHistory(t, nil)
	var buf bytes.Buffer
	n, err := h.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, int64(buf.Len()); got != want {
		t.Errorf("WriteTo reported %d bytes, wrote %d", got, want)
	}
	got, err := history.ReadHistory(&buf, "history.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if want := h.Events(); !reflect.DeepEqual(got, want) {
		t.Fatalf("read back\n%v\nwant\n%v", got, want)
	}
	crashed := got[3]
	if !crashed.Crashed() || crashed.Return != history.ReturnUnknown {
		t.Errorf("the call that never returned reads as %s", crashed)
	}

	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := history.WriteHistoryFile(path, got); err != nil {
		t.Fatal(err)
	}
	again, err := history.ReadHistoryFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, got) {
		t.Fatal("file round trip changed the history")
	}
}

// TestHistory_Sink: the streamed call and return lines give the same
// history, so a killed worker's stream is its history.
func TestHistory_Sink(t *testing.T) {
	var sink bytes.Buffer
	h := sampleHistory(t, &sink)
	if !strings.Contains(sink.String(), `"phase":"call"`) || !strings.Contains(sink.String(), `"phase":"return"`) {
		t.Fatalf("sink has no call/return lines:\n%s", sink.String())
	}
	got, err := history.ReadHistory(&sink, "worker.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if want := h.Events(); !reflect.DeepEqual(got, want) {
		t.Fatalf("stream reads as\n%v\nwant\n%v", got, want)
	}
}

// TestHistory_Misuse: a return for a call never made, or twice, is
// reported by Err and changes nothing.
func TestHistory_Misuse(t *testing.T) {
	h := history.NewHistory(history.HistoryOptions{})
	c := h.Call("p", history.KindAck, "", history.OpInput{OpID: "x", Token: 1})
	h.Return(c, history.OpOutput{Err: "boom"})
	h.Return(c, history.OpOutput{Outcome: history.OutcomeOK})
	h.Return(42, history.OpOutput{Outcome: history.OutcomeOK})
	if err := h.Err(); !errors.Is(err, history.ErrHistoryMisuse) {
		t.Fatalf("Err() = %v, want ErrHistoryMisuse", err)
	}
	if got := h.Events()[0].Out.Outcome; got != history.OutcomeError {
		t.Errorf("outcome %s, want error (an empty outcome with Err set)", got)
	}
}

// TestReadHistory_Errors: bad input is refused with the file and the line,
// and never panics.
func TestReadHistory_Errors(t *testing.T) {
	good := `{"v":1,"i":0,"client":"p","kind":"enqueue","call":1,"ret":2,"out":{"outcome":"ok","op_id":"a"}}` + "\n"
	tests := []struct {
		name, input string
		line        int
		want        string
	}{
		{"garbage", good + "not json\n", 2, "not a history event"},
		{"unknown field", good + `{"v":1,"i":1,"client":"p","kind":"claim","call":3,"ret":4,"out":{"outcome":"ok"},"extra":1}` + "\n", 2, `unknown field "extra"`},
		{"unknown kind", `{"v":1,"i":0,"kind":"dance","call":1,"ret":2,"out":{"outcome":"ok"}}` + "\n", 1, "field kind"},
		{"unknown outcome", `{"v":1,"i":0,"kind":"ack","call":1,"ret":2,"out":{"outcome":"meh"}}` + "\n", 1, "field out.outcome"},
		{"return before call", `{"v":1,"i":0,"kind":"ack","call":5,"ret":2,"out":{"outcome":"ok"}}` + "\n", 1, "field ret"},
		{"missing return", `{"v":1,"i":0,"kind":"ack","call":5,"out":{"outcome":"ok"}}` + "\n", 1, "only an unknown outcome may lack"},
		{"missing call", `{"v":1,"i":0,"kind":"ack","ret":5,"out":{"outcome":"ok"}}` + "\n", 1, "field call"},
		{"wrong version", `{"v":2,"i":0,"kind":"ack","call":1,"ret":2,"out":{"outcome":"ok"}}` + "\n", 1, "version 2"},
		{"duplicate index", good + good, 2, "appears twice"},
		{"return without call", `{"v":1,"i":7,"phase":"return","ret":2,"out":{"outcome":"ok"}}` + "\n", 1, "no call line"},
		{"double return", `{"v":1,"i":0,"phase":"call","kind":"ack","call":1}` + "\n" +
			`{"v":1,"i":0,"phase":"return","ret":2,"out":{"outcome":"ok"}}` + "\n" +
			`{"v":1,"i":0,"phase":"return","ret":3,"out":{"outcome":"ok"}}` + "\n", 3, "returns twice"},
		{"store state without state", `{"v":1,"i":0,"kind":"store-state","call":1}` + "\n", 1, "field state"},
		{"state on a call", `{"v":1,"i":0,"kind":"ack","call":1,"ret":2,"out":{"outcome":"ok"},"state":{"pending":[]}}` + "\n", 1, "field state"},
		{"blank line", good + "\n" + good, 2, "blank line"},
		{"two values", `{"v":1} {"v":1}` + "\n", 1, ""},
		{"unknown phase", `{"v":1,"i":0,"phase":"later","kind":"ack","call":1}` + "\n", 1, "unknown phase"},
		{"negative index", `{"v":1,"i":-1,"kind":"ack","call":1,"ret":2,"out":{"outcome":"ok"}}` + "\n", 1, "negative index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := history.ReadHistory(strings.NewReader(tt.input), "run/history.jsonl")
			if err == nil {
				t.Fatalf("no error; read %v", evs)
			}
			if evs != nil {
				t.Errorf("events returned with a bad history: %v", evs)
			}
			if !errors.Is(err, history.ErrBadHistory) {
				t.Errorf("error %v does not wrap ErrBadHistory", err)
			}
			var he *history.HistoryError
			if !errors.As(err, &he) || he.File != "run/history.jsonl" || he.Line != tt.line {
				t.Fatalf("error %v, want a HistoryError at run/history.jsonl:%d", err, tt.line)
			}
			if prefix := fmt.Sprintf("run/history.jsonl:%d: ", tt.line); !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestReadHistory_TornTail: a last line cut mid-write, as a killed worker
// leaves it, is reported as torn, with the events before it.
func TestReadHistory_TornTail(t *testing.T) {
	var sink bytes.Buffer
	sampleHistory(t, &sink)
	whole := sink.String()
	cut := whole[:len(whole)-20]
	evs, err := history.ReadHistory(strings.NewReader(cut), "worker.jsonl")
	if !errors.Is(err, history.ErrTornHistory) {
		t.Fatalf("error %v, want ErrTornHistory", err)
	}
	if errors.Is(err, history.ErrBadHistory) {
		t.Errorf("a torn tail also reads as a bad history: %v", err)
	}
	if lines := strings.Count(cut, "\n"); len(evs) == 0 || !strings.Contains(err.Error(), fmt.Sprintf("worker.jsonl:%d:", lines+1)) {
		t.Errorf("got %d events and %v", len(evs), err)
	}
}

// TestMergeHistories: histories of the harness and a worker merge by call
// time with fresh indexes.
func TestMergeHistories(t *testing.T) {
	enq := func(index int, client string, call, ret int64, id string) history.HistoryEvent {
		return history.HistoryEvent{Index: index, Client: client, Kind: history.KindEnqueue, Call: call, Return: ret,
			In: history.OpInput{PayloadHash: history.HashPayload([]byte(id))}, Out: history.OpOutput{Outcome: history.OutcomeOK, OpID: id}}
	}
	a := []history.HistoryEvent{enq(0, "harness", 10, 20, "A"), enq(1, "harness", 50, 60, "C")}
	b := []history.HistoryEvent{enq(0, "worker", 30, 40, "B")}
	m := history.MergeHistories(a, b)
	var ids []string
	for i, e := range m {
		if e.Index != i {
			t.Errorf("index %d at %d", e.Index, i)
		}
		ids = append(ids, e.Out.OpID)
	}
	if got, want := strings.Join(ids, ","), "A,B,C"; got != want {
		t.Errorf("merged order %s, want %s", got, want)
	}
	if a[1].Index != 1 {
		t.Error("MergeHistories changed its input")
	}
}

// TestMonotonicClock: the shared clock moves forward, and ClockSince
// counts from its start.
func TestMonotonicClock(t *testing.T) {
	start := history.MonotonicNanos()
	clock := history.ClockSince(start)
	a := clock()
	b := clock()
	if a < 0 || b < a {
		t.Fatalf("clock readings %d then %d", a, b)
	}
}

// FuzzReadHistory: no input makes the reader panic, and whatever it
// accepts survives a write and a read unchanged.
func FuzzReadHistory(f *testing.F) {
	var sink bytes.Buffer
	h := history.NewHistory(history.HistoryOptions{Sink: &sink})
	c := h.Call("p", history.KindClaim, "", history.OpInput{Token: 1})
	h.Return(c, history.OpOutput{Outcome: history.OutcomeOK, OpID: "x"})
	h.Call("p", history.KindAck, "", history.OpInput{Token: 1, OpID: "x"})
	h.RecordState("h", "", history.StoreState{Pending: []history.StateOp{{ID: "x"}}})
	f.Add(sink.Bytes())
	var whole bytes.Buffer
	if _, err := h.WriteTo(&whole); err != nil {
		f.Fatal(err)
	}
	f.Add(whole.Bytes())
	f.Add([]byte(`{"v":1,"i":0,"kind":"ack","call":-5,"out":{"outcome":"unknown"}}`))
	f.Add([]byte("\x00\xff{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := history.ReadHistory(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := history.WriteHistory(&buf, evs); err != nil {
			t.Fatal(err)
		}
		again, err := history.ReadHistory(&buf, "again")
		if err != nil {
			t.Fatalf("reading what was written: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(again, evs) {
			t.Fatalf("round trip changed\n%v\ninto\n%v", evs, again)
		}
	})
}

func TestReadHistoryFile_Missing(t *testing.T) {
	_, err := history.ReadHistoryFile(filepath.Join(t.TempDir(), "nope.jsonl"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v, want not-exist", err)
	}
}

// A parent follows a child's stream into its own history: calls, returns,
// faults and a call that never returned, under new indexes, passed on to
// the parent's own sink.
func TestHistory_Follow(t *testing.T) {
	var now int64
	clock := func() int64 { now += 10; return now }
	var stream bytes.Buffer
	child := history.NewHistory(history.HistoryOptions{Clock: clock, Sink: &stream})
	i := child.Call("worker/processor-0", history.KindClaim, "", history.OpInput{Token: 3})
	child.Return(i, history.OpOutput{OpID: "a", Seq: 1})
	child.RecordFault("worker", history.Fault{Index: 1, Type: "kill", Phase: history.FaultDone, Detail: map[string]any{"armed": "x@1"}})
	child.Call("worker/harness", history.KindBackup, "", history.OpInput{Backup: "b.age"})
	child.Call("worker/harness", history.KindOpen, "", history.OpInput{WrongKey: true})

	var up bytes.Buffer
	parent := history.NewHistory(history.HistoryOptions{Clock: clock, Sink: &up})
	parent.Record(history.HistoryEvent{Client: "harness", Kind: history.KindOpen, Call: 1, Return: 2, Out: history.OpOutput{Outcome: history.OutcomeOK}})
	if err := parent.Follow(bytes.NewReader(stream.Bytes()), "worker", nil); err != nil {
		t.Fatal(err)
	}
	got := parent.Events()
	want := child.Events()
	if len(got) != len(want)+1 {
		t.Fatalf("%d events, want %d", len(got), len(want)+1)
	}
	for k, w := range want {
		g := got[k+1]
		w.Index = k + 1
		if g.String() != w.String() || g.Call != w.Call || g.Return != w.Return || g.In != w.In || g.Out != w.Out {
			t.Errorf("event %d: %s, want %s", k+1, g, w)
		}
	}
	if f := got[2].Fault; f == nil || f.Type != "kill" || f.Detail["armed"] != "x@1" {
		t.Errorf("fault lost: %+v", got[2])
	}
	if !got[3].Crashed() || got[3].Return != history.ReturnUnknown {
		t.Errorf("a call with no return line reads %s", got[3])
	}
	// What the parent passed on reads back as its history.
	back, err := history.ReadHistory(&up, "up")
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(got) || back[1].String() != got[1].String() || back[4].In != got[4].In {
		t.Errorf("parent's stream reads back as %v, want %v", back, got)
	}
}

func TestHistory_FollowBadStreams(t *testing.T) {
	var stream bytes.Buffer
	child := history.NewHistory(history.HistoryOptions{Sink: &stream})
	i := child.Call("process-0/processor-0", history.KindClaim, "", history.OpInput{Token: 1})
	child.Return(i, history.OpOutput{Outcome: history.OutcomeEmpty})
	good := stream.String()

	h := history.NewHistory(history.HistoryOptions{})
	err := h.Follow(strings.NewReader(good+`{"v":1,"i":1,"phase":"call","cl`), "torn", nil)
	if !errors.Is(err, history.ErrTornHistory) || h.Len() != 1 {
		t.Errorf("torn last line: %v, %d events", err, h.Len())
	}
	h = history.NewHistory(history.HistoryOptions{})
	err = h.Follow(strings.NewReader("garbage\n"+good), "bad", nil)
	if !errors.Is(err, history.ErrBadHistory) || h.Len() != 0 {
		t.Errorf("bad first line: %v, %d events", err, h.Len())
	}
	h = history.NewHistory(history.HistoryOptions{})
	refuse := func(e history.HistoryEvent) error {
		if !strings.HasPrefix(e.Client, "process-1/") {
			return errors.New("not process-1's")
		}
		return nil
	}
	if err := h.Follow(strings.NewReader(good), "refused", refuse); !errors.Is(err, history.ErrBadHistory) || h.Len() != 0 {
		t.Errorf("refused event: %v, %d events", err, h.Len())
	}
}

// A fault event is an observation: it carries a fault, no output, and
// round-trips through history.jsonl; a fault without its payload, or a
// payload on another kind, is refused.
func TestHistory_FaultEvents(t *testing.T) {
	h := history.NewHistory(history.HistoryOptions{})
	h.RecordFault("harness", history.Fault{Index: 0, Type: "bitflip", Phase: history.FaultDone, Err: "boom", Class: "other"})
	var b bytes.Buffer
	if _, err := h.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	back, err := history.ReadHistory(&b, "faults")
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || back[0].Fault == nil || back[0].Fault.Err != "boom" || back[0].Return != back[0].Call {
		t.Fatalf("read back %+v", back)
	}
	for _, bad := range []string{
		`{"v":1,"i":0,"client":"harness","kind":"fault","call":5,"ret":5}`,
		`{"v":1,"i":0,"client":"harness","kind":"open","call":5,"ret":6,"out":{"outcome":"ok"},"fault":{"index":0,"type":"kill","phase":"done"}}`,
		`{"v":1,"i":0,"client":"harness","kind":"fault","call":5,"ret":5,"out":{"outcome":"ok"},"fault":{"index":0,"type":"kill","phase":"done"}}`,
	} {
		if _, err := history.ReadHistory(strings.NewReader(bad+"\n"), "bad"); !errors.Is(err, history.ErrBadHistory) {
			t.Errorf("%s: %v, want ErrBadHistory", bad, err)
		}
	}
}
