package reports

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes s as GitHub-flavoured Markdown for CI step summaries:
// a heading, how the run was made, and per op a table of corrected and
// uncorrected latency side by side, in milliseconds.
func WriteMarkdown(w io.Writer, s *Summary) error {
	bw := bufio.NewWriter(w)
	title := "Load run"
	if s.Workload != "" {
		title += ": " + mdEscape(s.Workload)
	}
	fmt.Fprintf(bw, "## %s\n\n%s\n", title, mdEscape(describe(&s.Meta)))
	if rt := s.TargetRoundTrip; rt != nil {
		fmt.Fprintf(bw, "\n%s\n", mdEscape(rt.line()))
	}
	if te := targetErrors(&s.Meta); te != "" {
		fmt.Fprintf(bw, "\n%s\n", mdEscape(te))
	}
	if len(s.Ops) == 0 {
		fmt.Fprint(bw, "\nNo ops completed in the measured window.\n")
	}
	for i := range s.Ops {
		op := &s.Ops[i]
		fmt.Fprintf(bw, "\n### %s\n\n%s\n\n", mdEscape(op.Name), mdEscape(opLine(op)))
		fmt.Fprint(bw, "| percentile | corrected (ms) | uncorrected (ms) |\n|---|---:|---:|\n")
		for _, lv := range levels {
			c, _ := op.Corrected.At(lv.Label)
			u, _ := op.Uncorrected.At(lv.Label)
			fmt.Fprintf(bw, "| %s | %s | %s |\n", lv.Label, ms(c.Duration()), ms(u.Duration()))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write Markdown report: %w", err)
	}
	return nil
}

// mdEscape keeps free text from breaking a table or turning into markup.
var mdEscape = strings.NewReplacer(`|`, `\|`, `*`, `\*`, `_`, `\_`, "`", "\\`", `<`, "&lt;", `>`, "&gt;").Replace
