package fuzz_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

var benchCorpus = flag.String("bench-corpus", "", "`dir`ectory holding a corpus per target (<dir>/FuzzBoxFile/...), such as a fuzz cache, for BenchmarkStoreTargets; default: the checked-in corpora")

// BenchmarkStoreTargets runs the inputs of the three store-bound targets
// outside the fuzzer, one input per op, with every check the target makes:
// its checked-in corpus, or with -bench-corpus the corpus a fuzzing run left
// in a cache directory (go test -fuzz ... -test.fuzzcachedir=DIR). ns/op is
// the cost of an average input of that corpus on one worker. Built by
// go test -c -fuzz=X, the binary carries the fuzzer's coverage
// instrumentation, so a CPU profile shows where a fuzzing worker's time
// goes; docs/fuzzing.md ("Throughput") has the commands.
func BenchmarkStoreTargets(b *testing.B) {
	b.Run("BoxFile", func(b *testing.B) {
		br, in := newBoxFileRun(b), benchInputs(b, "FuzzBoxFile")
		for i := 0; b.Loop(); i++ {
			br.run(b, in[i%len(in)])
		}
	})
	b.Run("BackupArchive", func(b *testing.B) {
		rt, in := newRestoreTarget(b, loadFixture(b)), benchInputs(b, "FuzzBackupArchive")
		for i := 0; b.Loop(); i++ {
			restoreArchive(b, rt, in[i%len(in)])
		}
	})
	b.Run("QueueModel", func(b *testing.B) {
		sc, empty, in := newScratch(b), emptyStore(b), benchInputs(b, "FuzzQueueModel")
		for i := 0; b.Loop(); i++ {
			runProgram(b, sc, empty, in[i%len(in)])
		}
	})
}

// benchInputs reads the corpus files of target, each a single []byte
// argument, in name order.
func benchInputs(tb testing.TB, target string) [][]byte {
	tb.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if *benchCorpus != "" {
		dir = filepath.Join(*benchCorpus, target)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no corpus files in %s (%v); hint: -bench-corpus takes the directory that holds %s/", dir, err, target)
	}
	sort.Strings(paths)
	var out [][]byte
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		in, err := parseCorpusFile(b)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		out = append(out, in)
	}
	return out
}

// parseCorpusFile decodes a "go test fuzz v1" file of one []byte value.
func parseCorpusFile(b []byte) ([]byte, error) {
	header, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok || string(header) != "go test fuzz v1" {
		return nil, fmt.Errorf("not a go test fuzz v1 file")
	}
	lit, ok := bytes.CutPrefix(bytes.TrimSpace(rest), []byte("[]byte("))
	if !ok || !bytes.HasSuffix(lit, []byte(")")) {
		return nil, fmt.Errorf("want one []byte(...) value")
	}
	s, err := strconv.Unquote(string(lit[:len(lit)-1]))
	if err != nil {
		return nil, fmt.Errorf("[]byte value: %w", err)
	}
	return []byte(s), nil
}
