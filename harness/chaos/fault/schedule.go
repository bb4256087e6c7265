package fault

// The fault schedule: a scenario's fault list resolved against a seed into
// logical positions and per-fault seeds, written as faults.jsonl. Nothing in
// it depends on wall time, file sizes or scheduling, so the same scenario and
// seed give the same bytes on any machine.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/boxstorm/boxstorm/internal/failpoint"
	"github.com/boxstorm/boxstorm/scenarios"
)

// ErrUnsupportedFault means the harness cannot inject a fault as the
// scenario writes it; the checks that depend on it report unknown.
var ErrUnsupportedFault = errors.New("fault cannot be injected")

// PlannedFault is one resolved step of a fault schedule: one line of
// faults.jsonl.
type PlannedFault struct {
	// Index is the fault's place in the scenario's list, from 0.
	Index int `json:"index"`
	// Type is the fault type, as the scenario writes it.
	Type scenarios.FaultType `json:"type"`
	// Op is the op count at which the fault runs (-1 for a step fault).
	Op int64 `json:"op"`
	// Step is the step number of a step fault (0 for an op fault).
	Step int `json:"step"`
	// Seed drives every random choice the fault makes (offsets, bits).
	Seed uint64 `json:"seed"`
	// Params are the fault's fields from the scenario, as written.
	Params map[string]any `json:"params,omitempty"`

	Fault scenarios.Fault `json:"-"` // the fault as the scenario wrote it
}

// AtOp reports whether the fault runs at an op position, with the workload
// paused, rather than as a step after it.
func (p PlannedFault) AtOp() bool { return p.Step == 0 }

// Schedule resolves sc's faults for seed: op_between positions are drawn
// from the seed, and each fault gets its own seed for the random choices it
// makes. sc should already be scaled (Scenario.Quick) when the run is quick.
func Schedule(sc *scenarios.Scenario, seed uint64) []PlannedFault {
	rng := rand.New(rand.NewPCG(seed, scenarioHash(sc.Name)))
	out := make([]PlannedFault, 0, len(sc.Faults))
	for i, f := range sc.Faults {
		p := PlannedFault{Index: i, Type: f.Type, Op: -1, Fault: f}
		switch f.At.Kind {
		case scenarios.AtStep:
			p.Step = f.At.Step
		case scenarios.AtOpBetween:
			p.Op = f.At.Op + int64(rng.Uint64N(uint64(f.At.OpMax-f.At.Op+1)))
		default:
			p.Op = f.At.Op
		}
		p.Seed = rng.Uint64()
		p.Params = faultParams(f)
		out = append(out, p)
	}
	// Op positions drawn from op_between can fall before an earlier fixed
	// position; faults at one position keep their list order.
	slices.SortStableFunc(out, func(a, b PlannedFault) int {
		ka, kb := scheduleKey(a), scheduleKey(b)
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return out
}

func scheduleKey(p PlannedFault) int64 {
	if p.Step > 0 {
		return 1<<62 + int64(p.Step)
	}
	return p.Op
}

func scenarioHash(name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return h.Sum64()
}

// faultParams lists the fields a fault type takes, with their values.
func faultParams(f scenarios.Fault) map[string]any {
	m := map[string]any{}
	set := func(k string, v any, ok bool) {
		if ok {
			m[k] = v
		}
	}
	set("box", f.Box, f.Box != "")
	set("mode", f.Mode, f.Mode != "")
	set("count", f.Count, f.Count != 0)
	set("bytes", f.Bytes, f.Bytes != 0)
	set("length", f.Length, f.Length != 0)
	set("processor", f.Processor, f.Type == scenarios.FaultClockSkew || f.Type == scenarios.FaultStall)
	set("offset", f.Offset.String(), f.Offset != 0)
	set("duration", f.Duration.String(), f.Duration != 0)
	set("rate", f.Rate, f.Rate != 0)
	set("failpoint", f.Failpoint, f.Failpoint != "")
	set("every", f.Every, f.Every != 0)
	set("during", f.During, f.During != "")
	set("delta", f.Delta, f.Delta != 0)
	set("limit", f.Limit, f.Type == scenarios.FaultDiskFull)
	set("from", f.From, f.From != "")
	set("batch", f.Batch, f.Batch != 0)
	set("subject", f.Subject, f.Subject != "")
	set("recovery", string(f.Recovery), f.Recovery != "")
	set("nth", f.Nth, f.Type == scenarios.FaultFsyncError)
	set("sticky", f.Sticky, f.Sticky)
	set("budget", f.Budget, f.Type == scenarios.FaultENOSPC)
	set("median", f.Median.String(), f.Median != 0)
	set("p99", f.P99.String(), f.P99 != 0)
	set("procedure", f.Procedure, f.Procedure != "")
	set("states", f.States, f.States != 0)
	if len(m) == 0 {
		return nil
	}
	return m
}

// MarshalSchedule renders a schedule as JSON lines, the content of
// faults.jsonl.
func MarshalSchedule(plan []PlannedFault) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, p := range plan {
		if err := enc.Encode(p); err != nil {
			return nil, fmt.Errorf("fault %d: %w", p.Index, err)
		}
	}
	return buf.Bytes(), nil
}

// ValidateSchedule refuses what the harness cannot inject: a failpoint the
// store does not define.
func ValidateSchedule(plan []PlannedFault) error {
	for _, p := range plan {
		if p.Fault.Failpoint != "" && !failpoint.Known(p.Fault.Failpoint) {
			return fmt.Errorf("fault %d: failpoint %q is not defined by the store (known: %v): %w", p.Index, p.Fault.Failpoint, failpoint.Names(), ErrUnsupportedFault)
		}
	}
	return nil
}
