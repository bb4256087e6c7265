package store

// The backup-verification canary's restore: it reads whatever an archive
// yields, ignores every error and checks nothing, the way a restore without
// verification would. Production code never reaches it.

import (
	"archive/tar"
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"path"
	"strings"

	"filippo.io/age"
)

// uncheckedExtract returns the records it could read, by box.
func uncheckedExtract(r io.Reader, id age.Identity) map[string][]kv {
	out := map[string][]kv{}
	dec, err := age.Decrypt(r, id)
	if err != nil {
		return out
	}
	tr := tar.NewReader(dec)
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		name := path.Base(h.Name)
		if !strings.HasSuffix(name, ".jsonl") {
			continue
		}
		box := strings.TrimSuffix(name, ".jsonl")
		sc := bufio.NewScanner(tr)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var line struct{ K, V string }
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			v, err := base64.StdEncoding.DecodeString(line.V)
			if err != nil {
				continue
			}
			out[box] = append(out[box], kv{line.K, string(v)})
		}
	}
}
