package check

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/boxstorm/boxstorm/harness/history"
)

// VisualizationFile is the name of the porcupine visualization the
// linearizable checker writes into CheckOptions.VisualizeDir.
const VisualizationFile = "linearizable.html"

// CheckLinearizable checks with porcupine that the queue and lock
// histories are linearizable against the store's sequential specification
// (see the model in model.go and docs/checkers.md). Each queue is one
// partition and the lock another.
//
// porcupine's search is exponential in the number of overlapping calls, so
// it runs with o.Timeout (DefaultCheckTimeout when zero); a timeout is
// VerdictUnknown, never a pass. When the history is not linearizable the
// check runs porcupine again to find, per failing partition, the call no
// linearization gets past, and writes porcupine's visualization to
// o.VisualizeDir when that is set.
func CheckLinearizable(events []history.HistoryEvent, o CheckOptions) CheckResult {
	h, err := chkPrepare(events)
	if err != nil {
		return chkBadHistory(CheckerLinearizable, err)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	ops, parts := mdlBuild(h, o)
	model := mdlModel(len(parts))
	start := time.Now()
	res := porcupine.CheckOperationsTimeout(model, ops, timeout)
	r := CheckResult{Name: CheckerLinearizable}
	summary := fmt.Sprintf("%d calls in %d partitions", len(h.ev), len(parts))
	switch res {
	case porcupine.Ok:
		r.Verdict = VerdictPass
		r.Message = fmt.Sprintf("linearizable: %s, checked in %s", summary, time.Since(start).Round(time.Millisecond))
		return r
	case porcupine.Unknown:
		r.Verdict = VerdictUnknown
		r.Message = fmt.Sprintf("porcupine timed out after %s on %s; a timeout is not a pass (raise the timeout or shorten the history)", timeout, summary)
		return r
	}

	// Illegal. The first run stops at the first bad partition and keeps no
	// evidence; a verbose run finds the partial linearizations.
	f := newChkFindings(CheckerLinearizable)
	res2, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if res2 != porcupine.Illegal {
		f.add(Violation{Kind: "not-linearizable", Severity: SeverityViolation,
			Message: fmt.Sprintf("porcupine found no linearization; the rerun that gathers evidence ended %s within %s", res2, timeout)})
		return f.result(summary)
	}
	for _, v := range linStuck(model, parts, info) {
		f.add(v)
	}
	if f.counts[SeverityViolation] == 0 {
		f.add(Violation{Kind: "not-linearizable", Severity: SeverityViolation, Message: "porcupine found no linearization"})
	}
	r = f.result(summary)
	if o.VisualizeDir != "" {
		path, err := linVisualize(model, info, o.VisualizeDir)
		if err != nil {
			r.Message += "; the visualization could not be written: " + err.Error()
		} else {
			r.Artifacts = append(r.Artifacts, path)
		}
	}
	return r
}

func linVisualize(model porcupine.Model, info porcupine.LinearizationInfo, dir string) (path string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("visualize: %w", err)
	}
	path = filepath.Join(dir, VisualizationFile)
	defer func() {
		// porcupine panics if a model step is not pure; ours is, but a
		// report must not crash over a picture.
		if p := recover(); p != nil {
			err = fmt.Errorf("visualize: porcupine: %v", p)
		}
	}()
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return "", fmt.Errorf("visualize: %w", err)
	}
	return path, nil
}

// linStuck explains each partition porcupine could not linearize: the
// earliest call outside its longest partial linearization, with the calls
// around it.
func linStuck(model porcupine.Model, parts []mdlPartition, info porcupine.LinearizationInfo) []Violation {
	partials := info.PartialLinearizationsOperations()
	var out []Violation
	for p, part := range parts {
		if p >= len(partials) || len(part.ops) == 0 {
			continue
		}
		var longest []porcupine.Operation
		for _, l := range partials[p] {
			if len(l) > len(longest) {
				longest = l
			}
		}
		if len(longest) == len(part.ops) {
			continue
		}
		in := map[*mdlOp]bool{}
		for _, o := range longest {
			in[o.Input.(*mdlOp)] = true
		}
		var stuck *mdlOp
		for _, op := range part.ops {
			if !in[op] && (stuck == nil || op.ev.Call < stuck.ev.Call) {
				stuck = op
			}
		}
		if stuck == nil {
			continue
		}
		// The state the longest prefix ends in.
		state := model.Init()
		for _, o := range longest {
			_, state = model.Step(state, o.Input, o.Output)
		}
		evidence := map[*mdlOp]bool{stuck: true}
		for k := max(0, len(longest)-4); k < len(longest); k++ {
			evidence[longest[k].Input.(*mdlOp)] = true
		}
		n := 0
		for _, op := range part.ops {
			if n < 8 && op != stuck && op.ev.Call <= linReturn(stuck.ev) && linReturn(op.ev) >= stuck.ev.Call {
				evidence[op] = true
				n++
			}
		}
		n = 0
		for _, op := range part.ops {
			if n < 4 && op != stuck && stuck.id != "" && op.id == stuck.id {
				evidence[op] = true
				n++
			}
		}
		var evs []history.HistoryEvent
		for op := range evidence {
			evs = append(evs, op.ev)
		}
		sort.Slice(evs, func(i, j int) bool {
			return evs[i].Call < evs[j].Call || evs[i].Call == evs[j].Call && evs[i].Index < evs[j].Index
		})
		out = append(out, Violation{Kind: "not-linearizable", Severity: SeverityViolation, OpID: stuck.id,
			Message: fmt.Sprintf("%s: no linearization gets past %s; the longest linearizable prefix has %d of %d calls and ends in %s",
				part.name, stuck.ev, len(longest), len(part.ops), model.DescribeState(state)),
			Events: evs})
	}
	return out
}

func linReturn(e history.HistoryEvent) int64 {
	if e.Crashed() {
		return history.ReturnUnknown
	}
	return e.Return
}
