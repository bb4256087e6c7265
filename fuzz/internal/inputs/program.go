package inputs

// StepOp is one operation of a FuzzQueueModel program.
type StepOp uint8

// The operations of a queue program. Arg selects among a few choices; the
// fuzz target documents what it means for each.
const (
	OpEnqueue   StepOp = iota // payload and idempotency key from Arg
	OpAcquire                 // owner Arg&1 takes the processing lock
	OpClaim                   // owner Arg&1 claims with its last token
	OpAck                     // owner Arg&1 acks op Arg>>1 (by creation order)
	OpFail                    // owner Arg&1 fails op Arg>>1
	OpRetry                   // retry op Arg>>1
	OpRelease                 // owner Arg&1 releases the lock
	OpHeartbeat               // owner Arg&1 renews its lease
	OpAdvance                 // the clock moves by an amount Arg picks
	OpReopen                  // Close, then Open
	OpKill                    // copy the files of the open store (a process kill), then open the copy

	NumStepOps
)

// MaxSteps caps a program, so an exec stays short.
const MaxSteps = 32

// Step is one operation and its argument.
type Step struct {
	Op  StepOp
	Arg byte
}

// MaxRestarts caps the reopen and kill steps of a program. Each one opens
// the store again, which costs more than all the other steps of a typical
// program together; the fuzzer, rewarded with new coverage counts for every
// extra Open, used to breed programs of five or six, at a third of the
// execs per second. Two are enough to crash the store while it recovers from
// an earlier crash.
const MaxRestarts = 2

// DecodeProgram decodes a queue program: two bytes per step, the operation
// (modulo NumStepOps) and its argument; at most MaxSteps steps, and reopen or
// kill steps past the first MaxRestarts are dropped.
func DecodeProgram(b []byte) []Step {
	var steps []Step
	restarts := 0
	for i := 0; i+1 < len(b) && len(steps) < MaxSteps; i += 2 {
		st := Step{Op: StepOp(b[i] % byte(NumStepOps)), Arg: b[i+1]}
		if st.Op == OpReopen || st.Op == OpKill {
			if restarts == MaxRestarts {
				continue
			}
			restarts++
		}
		steps = append(steps, st)
	}
	return steps
}

// EncodeProgram is the inverse of DecodeProgram, for seeds.
func EncodeProgram(steps []Step) []byte {
	out := make([]byte, 0, 2*len(steps))
	for _, s := range steps {
		out = append(out, byte(s.Op), s.Arg)
	}
	return out
}

// String names the operation.
func (o StepOp) String() string {
	names := [...]string{"enqueue", "acquire", "claim", "ack", "fail", "retry", "release", "heartbeat", "advance", "reopen", "kill"}
	if int(o) < len(names) {
		return names[o]
	}
	return "op?"
}
