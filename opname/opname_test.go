package opname_test

import (
	"testing"

	"github.com/boxstorm/boxstorm/opname"
	"github.com/boxstorm/boxstorm/reports"
)

// Every name can name a report row and an .hgrm file, and none is listed
// twice.
func TestAll(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range opname.All() {
		if err := reports.ValidateOpName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
		if seen[n] {
			t.Errorf("%q listed twice", n)
		}
		seen[n] = true
	}
}
