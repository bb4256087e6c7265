package reports

import (
	"bufio"
	"fmt"
	"io"
)

// WriteText writes s as a plain-text report for a terminal: a line on how
// the run was made, then per op its counts and a table of corrected and
// uncorrected latency side by side, in milliseconds.
func WriteText(w io.Writer, s *Summary) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s\n", describe(&s.Meta))
	if rt := s.TargetRoundTrip; rt != nil {
		fmt.Fprintf(bw, "%s\n", rt.line())
	}
	if te := targetErrors(&s.Meta); te != "" {
		fmt.Fprintf(bw, "%s\n", te)
	}
	if len(s.Ops) == 0 {
		fmt.Fprintln(bw, "\nno ops completed in the measured window")
	}
	for i := range s.Ops {
		op := &s.Ops[i]
		fmt.Fprintf(bw, "\n%s: %s\n", op.Name, opLine(op))
		fmt.Fprintf(bw, "  %-10s  %14s  %14s\n", "percentile", "corrected ms", "uncorrected ms")
		for _, lv := range levels {
			c, _ := op.Corrected.At(lv.Label)
			u, _ := op.Uncorrected.At(lv.Label)
			fmt.Fprintf(bw, "  %-10s  %14s  %14s\n", lv.Label, ms(c.Duration()), ms(u.Duration()))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write text report: %w", err)
	}
	return nil
}
