package reports_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/reports"
)

func TestWriteHgrm(t *testing.T) {
	run := fixtureRun(42)
	h := run.Ops[1].Corrected
	var buf bytes.Buffer
	if err := reports.WriteHgrm(&buf, h); err != nil {
		t.Fatal(err)
	}
	golden(t, "enqueue.hgrm.golden", buf.Bytes())

	back, err := reports.ReadHgrm(&buf, "enqueue.hgrm")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.TotalCount, h.TotalCount(); got != want {
		t.Errorf("footer total count = %d, want %d", got, want)
	}
	if got, want := back.Rows[len(back.Rows)-1].TotalCount, h.TotalCount(); got != want {
		t.Errorf("last row count = %d, want %d", got, want)
	}
	for _, p := range []float64{50, 90, 99, 99.9} {
		// The file holds milliseconds with three decimals, and the same
		// ranks.
		want := float64(reports.ValueAtPercentile(h, p)) / 1e6
		if got := back.ValueAtPercentile(p); math.Abs(got-want) > 0.0005 {
			t.Errorf("p%v = %v ms, want %v ms", p, got, want)
		}
	}
}

func TestReadHgrm(t *testing.T) {
	java, err := os.ReadFile("testdata/hgrm/java.hgrm")
	if err != nil {
		t.Fatal(err)
	}
	valid := string(java)
	for _, tc := range []struct {
		name    string
		in      string
		rows    int
		wantErr string // substring; "" for success
	}{
		{"java output", valid, 7, ""},
		{"no header or footer", "1.0 0.5 10\n2.0 1.0 20\n", 2, ""},
		{"crlf line ends", strings.ReplaceAll(valid, "\n", "\r\n"), 7, ""},
		{"empty", "", 0, "t.hgrm: syntax error: no percentile rows"},
		{"header only", "Value Percentile TotalCount\n\n", 0, "no percentile rows"},
		{"garbage row", valid[:200] + "\nhello world\n", 0, "t.hgrm:5: syntax error"},
		{"too many fields", "1 0.5 10 2 extra\n", 0, "t.hgrm:1: syntax error: want"},
		{"NaN value", "NaN 0.5 10\n", 0, "t.hgrm:1: syntax error: value"},
		{"infinite value", "+Inf 0.5 10\n", 0, "value"},
		{"negative value", "-1 0.5 10\n", 0, "value"},
		{"percentile above one", "1 1.5 10\n", 0, "percentile"},
		{"fractional count", "1 0.5 10.5\n", 0, "total count"},
		{"rows go backwards", "2 0.5 10\n1 0.9 20\n", 0, "t.hgrm:2: syntax error: row goes backwards"},
		{"bad footer", "1 0.5 10\n#[Max = lots, Total count = 10]\n", 0, "t.hgrm:2: syntax error: footer Max"},
		{"line too long", "1 0.5 10\n" + strings.Repeat("9", 5000) + "\n", 0, "t.hgrm:2: syntax error: line longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := reports.ReadHgrm(strings.NewReader(tc.in), "t.hgrm")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				var pe *reports.ParseError
				if !errors.As(err, &pe) || pe.File != "t.hgrm" {
					t.Errorf("err = %#v, want a *ParseError naming the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Rows) != tc.rows {
				t.Errorf("%d rows, want %d", len(h.Rows), tc.rows)
			}
		})
	}
}

func TestHgrm_Latencies(t *testing.T) {
	f, err := os.Open("testdata/hgrm/java.hgrm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := reports.ReadHgrm(f, "java.hgrm")
	if err != nil {
		t.Fatal(err)
	}
	l := h.Latencies()
	for _, tc := range []struct {
		label string
		ms    float64
	}{{"p50", 0.093}, {"p90", 0.121}, {"p99", 0.305}, {"p99.9", 1.234}, {"p99.99", 12.345}, {"max", 12.345}} {
		v, ok := l.At(tc.label)
		if !ok || math.Abs(v.Ms-tc.ms) > 1e-9 {
			t.Errorf("%s = %v, want %v ms", tc.label, v, tc.ms)
		}
	}
	if got := reports.OpSummaryFromHgrm("get", h).Count; got != 10000 {
		t.Errorf("count = %d, want 10000", got)
	}
}

// FuzzReadHgrm checks that no input makes the reader panic, and that what it
// accepts is a well-formed distribution.
func FuzzReadHgrm(f *testing.F) {
	java, err := os.ReadFile("testdata/hgrm/java.hgrm")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(java)
	var buf bytes.Buffer
	if err := reports.WriteHgrm(&buf, fixtureRun(1).Ops[0].Corrected); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("1 0.5 10\n#[Max = 1e308, Total count = -1]\n"))
	f.Add([]byte("0x1p-2 1e-3 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := reports.ReadHgrm(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		if len(h.Rows) == 0 {
			t.Fatal("accepted a file without rows")
		}
		for i := 1; i < len(h.Rows); i++ {
			if h.Rows[i].Quantile < h.Rows[i-1].Quantile || h.Rows[i].Value < h.Rows[i-1].Value {
				t.Fatalf("rows out of order: %+v", h.Rows)
			}
		}
		_ = h.Latencies()
		_ = h.Spectrum()
	})
}
