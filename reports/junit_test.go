package reports_test

import (
	"bytes"
	"encoding/xml"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/reports"
)

func TestWriteJUnit(t *testing.T) {
	suites := []reports.TestSuite{
		{
			Name:       "chaos",
			Timestamp:  fixtureStart,
			Properties: []reports.Property{{Name: "seed", Value: "42"}},
			Cases: []reports.TestCase{
				{Name: "torn-tail", Classname: "chaos.store", Time: 1234 * time.Millisecond, SystemOut: "recovered 3 records"},
				{Name: "bit-flip", Classname: "chaos.store", Time: 250 * time.Millisecond,
					Failure: "acknowledged op 17 lost after recovery\nexpected <op 17> & found nothing"},
				{Name: "disk-full", Classname: "chaos.store", Skipped: "needs RLIMIT_FSIZE"},
			},
		},
		{Name: "baseline", Cases: []reports.TestCase{{Name: "enqueue p99", Classname: "loadgen", Time: 5 * time.Second}}},
	}
	var buf bytes.Buffer
	if err := reports.WriteJUnit(&buf, suites); err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.xml.golden", buf.Bytes())

	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Cases []struct {
				Failure *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("output is not well-formed XML: %v", err)
	}
	if doc.Tests != 4 || doc.Failures != 1 || doc.Skipped != 1 {
		t.Errorf("totals tests=%d failures=%d skipped=%d, want 4, 1, 1", doc.Tests, doc.Failures, doc.Skipped)
	}
	f := doc.Suites[0].Cases[1].Failure
	if f == nil || f.Message != "acknowledged op 17 lost after recovery" || f.Body != suites[0].Cases[1].Failure {
		t.Errorf("failure = %+v", f)
	}
}
