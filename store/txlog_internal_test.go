package store

import (
	"bytes"
	"hash"
	"testing"
)

// The commit path's marker builder must write exactly the marker the
// scanner verifies, whatever the transaction, and reuse of its buffers must
// not leak one transaction into the next.
func TestEncodeMarker_MatchesEncode(t *testing.T) {
	s, err := newSealer(builtinTypes(), "pending_ops", 1, map[uint32][]byte{1: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	mac := s.newMAC(1)
	var sc markerScratch
	txs := [][]txRecord{
		{{key: "op/1", val: "sealed-1"}},
		{{key: "op/2", val: "sealed-2"}, {key: "idem/x", val: "sealed-idem"}}, // unsorted
		{{key: "op/1", del: true}},
		{{key: "op/3", val: string(bytes.Repeat([]byte("v"), 100<<10))}}, // larger than the kept buffer
		{{key: "op/4", val: "v"}, {key: "op/5", del: true}},
	}
	for i, recs := range txs {
		m := newMarker(1, uint64(i+1), uint64(10*i), recs)
		want := m.encode(mac, "pending_ops", recs)
		got := encodeMarker(&sc, m, mac, "pending_ops", recs)
		if got != want {
			t.Fatalf("transaction %d: encodeMarker differs from encode", i+1)
		}
		pm, pmac, err := parseMarker(got, s, map[uint32]hash.Hash{})
		if err != nil || pm != m || !verifyMarker(got, pmac, "pending_ops", recs) {
			t.Fatalf("transaction %d: marker does not verify: %v", i+1, err)
		}
	}
}
