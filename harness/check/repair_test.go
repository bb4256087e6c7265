package check_test

import (
	"testing"

	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
)

func repairHistory() []history.HistoryEvent {
	ok := history.OutcomeOK
	return []history.HistoryEvent{
		{Index: 0, Client: "p", Kind: history.KindEnqueue, Call: 1, Return: 2, In: history.OpInput{PayloadHash: "hash-a"}, Out: history.OpOutput{Outcome: ok, OpID: "a"}},
		{Index: 1, Client: "p", Kind: history.KindEnqueue, Call: 3, Return: 4, In: history.OpInput{PayloadHash: "hash-b"}, Out: history.OpOutput{Outcome: ok, OpID: "b"}},
		{Index: 2, Client: "p", Kind: history.KindEnqueue, Call: 5, Return: 6, In: history.OpInput{PayloadHash: "hash-c"}, Out: history.OpOutput{Outcome: ok, OpID: "c"}},
		{Index: 3, Client: "q", Kind: history.KindAck, Call: 7, Return: 8, In: history.OpInput{OpID: "c"}, Out: history.OpOutput{Outcome: ok}},
	}
}

func TestRepairMatchesHistory(t *testing.T) {
	repaired := check.Effects{Repairs: []check.Repair{{Box: check.BoxPending, Kind: "skip-damaged", QuarantineExists: true}}}
	for _, tt := range []struct {
		name string
		eff  check.Effects
		fs   check.FinalState
		want []string
	}{
		{"all survive", check.Effects{}, check.FinalState{State: history.StoreState{Pending: []history.StateOp{{ID: "a", PayloadHash: "hash-a"}, {ID: "b", PayloadHash: "hash-b"}}}}, nil},
		{"dropped and reported", repaired, check.FinalState{State: history.StoreState{Pending: []history.StateOp{{ID: "a", PayloadHash: "hash-a"}}}, Audit: []string{check.EventBoxRepaired}}, nil},
		{"dropped silently", check.Effects{}, check.FinalState{State: history.StoreState{Pending: []history.StateOp{{ID: "a", PayloadHash: "hash-a"}}}}, []string{"silently-dropped"}},
		{"repaired without audit", repaired, check.FinalState{State: history.StoreState{Pending: []history.StateOp{{ID: "a", PayloadHash: "hash-a"}}}}, []string{"silently-dropped"}},
		{"changed payload", repaired, check.FinalState{State: history.StoreState{Pending: []history.StateOp{{ID: "a", PayloadHash: "hash-a"}, {ID: "b", PayloadHash: "hash-x"}}}, Audit: []string{check.EventBoxRepaired}}, []string{"changed-payload"}},
		{"a target's damaged file repaired and reported", check.Effects{Damage: []check.Damage{{Box: "journal"}}, Repairs: []check.Repair{{Box: "journal", Kind: "torn-tail", QuarantineExists: true}}},
			check.FinalState{State: history.StoreState{Pending: []history.StateOp{{ID: "a", PayloadHash: "hash-a"}}}, Audit: []string{check.EventBoxRepaired}}, nil},
		{"a repair of a box that was not damaged", check.Effects{Damage: []check.Damage{{Box: "journal"}}, Repairs: []check.Repair{{Box: "other", Kind: "torn-tail", QuarantineExists: true}}},
			check.FinalState{State: history.StoreState{Pending: []history.StateOp{{ID: "a", PayloadHash: "hash-a"}}}, Audit: []string{check.EventBoxRepaired}}, []string{"silently-dropped"}},
		{"unreadable store judged elsewhere", check.Effects{}, check.FinalState{Err: "corrupt"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vs := check.RepairMatchesHistory(repairHistory(), tt.eff, tt.fs)
			var got []string
			for _, v := range vs {
				got = append(got, v.Kind)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("violations = %v, want %v (%v)", got, tt.want, vs)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("violation %d = %s, want %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}
