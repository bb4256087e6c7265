// Prints p50, p99 and p99.9 (ms) of every tag of a boxstorm run.hlog as
// HdrHistogram's JavaScript port decodes and reports them, so that a run's
// summary.json can be checked against an implementation boxstorm did not
// write. Needs hdr-histogram-js from npm:
//
//	mkdir -p /tmp/hdrjs && (cd /tmp/hdrjs && npm install hdr-histogram-js@3.0.1)
//	NODE_PATH=/tmp/hdrjs/node_modules node scripts/hlog-percentiles.js out/run/run.hlog
"use strict";
const fs = require("fs");
const hdr = require("hdr-histogram-js");

const content = fs.readFileSync(process.argv[2], "utf8");
for (const tag of hdr.listTags(content).sort()) {
  const reader = new hdr.HistogramLogReader(content);
  let total = null;
  for (let h; (h = reader.nextIntervalHistogram()) !== null;) {
    if ((h.tag || "NO TAG") !== tag) continue;
    if (total === null) {
      total = hdr.build({ lowestDiscernibleValue: h.lowestDiscernibleValue, highestTrackableValue: h.highestTrackableValue,
        numberOfSignificantValueDigits: h.numberOfSignificantValueDigits, bitBucketSize: 64, autoResize: true });
    }
    total.add(h);
  }
  if (total === null) continue;
  const ms = (p) => (total.getValueAtPercentile(p) / 1e6).toFixed(3);
  console.log(`${tag}\tN=${total.totalCount}\tp50 ${ms(50)}\tp99 ${ms(99)}\tp99.9 ${ms(99.9)}\tmax ${ms(100)}`);
}
