// Generates vectors.json: percentiles of known value sets as HdrHistogram's
// reference JavaScript port, hdr-histogram-js 3.0.1, reports them
// (getValueAtPercentile, the rule of Java's AbstractHistogram). The Go test
// TestValuesAtPercentilesMatchReference records the same values with
// hdrhistogram-go and checks reports.ValuesAtPercentiles against them.
//
// Rerun with:
//
//	mkdir -p /tmp/hdrjs && cd /tmp/hdrjs && npm install hdr-histogram-js@3.0.1
//	NODE_PATH=/tmp/hdrjs/node_modules node reports/testdata/percentiles/generate.js \
//	    > reports/testdata/percentiles/vectors.json
//
// Value sets are deterministic (a fixed linear congruential generator), so
// the output is the same on every run.
"use strict";
const hdr = require("hdr-histogram-js");

// The harness's latency geometry (harness.NewHistogram): ns from 1 µs to 60 s,
// 3 significant digits.
const lowest = 1000, highest = 60e9, sig = 3;
const percents = [0, 1, 10, 25, 33.3, 50, 66.7, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100];

let seed = 42;
function rand() { // LCG, 31 bits
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
// A latency-like value: log-uniform from 50 µs to 50 ms, with one in a
// hundred from 50 ms to 2 s.
function latency() {
  const [lo, hi] = rand() < 0.01 ? [5e7, 2e9] : [5e4, 5e7];
  return Math.round(Math.exp(Math.log(lo) + rand() * (Math.log(hi) - Math.log(lo))));
}

const sets = [];
for (const n of [1, 2, 3, 10, 1000, 1670, 20000]) {
  const values = [];
  for (let i = 0; i < n; i++) values.push(latency());
  sets.push({ name: `latency-n${n}`, values });
}
sets.push({ name: "equal-n5", values: [2e6, 2e6, 2e6, 2e6, 2e6] });
sets.push({ name: "sub-microsecond-n4", values: [0, 100, 700, 1500] });
sets.push({ name: "steps-n1000", values: Array.from({ length: 1000 }, (_, i) => (i + 1) * 1000) });

const out = sets.map(({ name, values }) => {
  const h = hdr.build({ lowestDiscernibleValue: lowest, highestTrackableValue: highest,
    numberOfSignificantValueDigits: sig, bitBucketSize: 64, autoResize: false, useWebAssembly: false });
  for (const v of values) h.recordValue(v);
  return {
    name, lowest, highest, significant_figures: sig, values,
    expect: percents.map((p) => ({ percent: p, value: h.getValueAtPercentile(p) })),
  };
});
// One set per line keeps the file small and its diffs readable.
process.stdout.write('{"generator": "reports/testdata/percentiles/generate.js with hdr-histogram-js 3.0.1",\n "sets": [\n' +
  out.map((s) => "  " + JSON.stringify(s)).join(",\n") + "\n ]\n}\n");
