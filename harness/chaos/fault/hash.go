package fault

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// HashTree hashes every file under dir, subdirectories included (a
// procedure's staging directory, say), by path relative to dir; each
// directory is listed too, so one that appears or goes shows. The
// directory lock file and quarantine copies (*.bak) are left out: opening
// takes the one and repairs write the others.
func HashTree(dir string) map[string]string {
	out := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = "dir"
			return nil
		}
		if d.Name() == "LOCK" || strings.HasSuffix(d.Name(), ".bak") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			out[rel] = "unreadable: " + err.Error()
			return nil
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	return out
}

// ChangedFiles lists the paths whose hashes differ between two HashTree
// results, added and removed ones included, sorted.
func ChangedFiles(before, after map[string]string) []string {
	var out []string
	for k, v := range before {
		if after[k] != v {
			out = append(out, k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
