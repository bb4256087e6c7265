package check_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/boxstorm/boxstorm/harness/check"
)

// writeBox writes payloads the way a store writes records: sealed with
// AES-GCM, or (the known-bad target) in plaintext.
func writeBox(t *testing.T, path string, payloads [][]byte, encrypt bool) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for i, p := range payloads {
		fmt.Fprintf(&buf, "*3\r\n$3\r\nset\r\n$6\r\nop:%03d\r\n", i)
		v := p
		if encrypt {
			nonce := make([]byte, aead.NonceSize())
			rand.Read(nonce)
			v = aead.Seal(nonce, nonce, p, nil)
		}
		fmt.Fprintf(&buf, "$%d\r\n%s\r\n", len(v), v)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCheckNoPlaintext(t *testing.T) {
	marker := []byte("BOXSTORM-MARKER-7f3a")
	payloads := [][]byte{
		append([]byte("order 1 "), marker...),
		append(append([]byte("order 2 "), marker...), " trailing"...),
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir, elsewhere string) []string // returns extra paths
		markers [][]byte
		verdict check.Verdict
		where   *check.Location // a hit that must be reported, relative to dir
	}{
		{"encrypted-store-passes", func(t *testing.T, dir, elsewhere string) []string {
			writeBox(t, filepath.Join(dir, "pending_ops.db"), payloads, true)
			writeBox(t, filepath.Join(elsewhere, "backup.age"), payloads, true)
			return []string{filepath.Join(elsewhere, "backup.age")}
		}, [][]byte{marker}, check.VerdictPass, nil},
		{"plaintext-store-fails", func(t *testing.T, dir, elsewhere string) []string {
			writeBox(t, filepath.Join(dir, "pending_ops.db"), payloads, false)
			return nil
		}, [][]byte{marker}, check.VerdictFail, &check.Location{Path: "pending_ops.db", Offset: 38}}, // 30 bytes of framing, then "order 1 "
		{"plaintext-in-nested-quarantine-copy", func(t *testing.T, dir, elsewhere string) []string {
			writeBox(t, filepath.Join(dir, "pending_ops.db"), payloads, true)
			writeBox(t, filepath.Join(dir, "quarantine", "pending_ops_damage_20260101.bak"), payloads[:1], false)
			return nil
		}, [][]byte{marker}, check.VerdictFail, &check.Location{Path: "quarantine/pending_ops_damage_20260101.bak", Offset: 38}},
		{"plaintext-in-backup-elsewhere", func(t *testing.T, dir, elsewhere string) []string {
			writeBox(t, filepath.Join(dir, "pending_ops.db"), payloads, true)
			writeBox(t, filepath.Join(elsewhere, "backup.tar"), payloads, false)
			return []string{filepath.Join(elsewhere, "backup.tar")}
		}, [][]byte{marker}, check.VerdictFail, nil},
		{"marker-across-read-boundary", func(t *testing.T, dir, elsewhere string) []string {
			// The scanner reads 1 MiB at a time: put a marker across the
			// first boundary and check it is found once, at its offset.
			b := bytes.Repeat([]byte{0xAA}, 2<<20)
			copy(b[1<<20-5:], marker)
			os.WriteFile(filepath.Join(dir, "big.db"), b, 0o600)
			return nil
		}, [][]byte{marker}, check.VerdictFail, &check.Location{Path: "big.db", Offset: 1<<20 - 5}},
		{"missing-extra-is-unknown", func(t *testing.T, dir, elsewhere string) []string {
			writeBox(t, filepath.Join(dir, "pending_ops.db"), payloads, true)
			return []string{filepath.Join(elsewhere, "no-such-backup.age")}
		}, [][]byte{marker}, check.VerdictUnknown, nil},
		{"no-markers-is-unknown", func(t *testing.T, dir, elsewhere string) []string {
			writeBox(t, filepath.Join(dir, "pending_ops.db"), payloads, false)
			return nil
		}, nil, check.VerdictUnknown, nil},
		{"empty-marker-is-unknown", func(t *testing.T, dir, elsewhere string) []string { return nil },
			[][]byte{marker, {}}, check.VerdictUnknown, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, elsewhere := t.TempDir(), t.TempDir()
			extra := tt.setup(t, dir, elsewhere)
			r := check.CheckNoPlaintext(dir, extra, tt.markers)
			if r.Verdict != tt.verdict {
				t.Fatalf("verdict %s, want %s: %s\n%s", r.Verdict, tt.verdict, r.Message, dumpFindings(r))
			}
			if tt.verdict == check.VerdictFail {
				for _, v := range r.Violations {
					if v.Kind != "plaintext" || v.Where == nil {
						t.Fatalf("finding without a location: %+v", v)
					}
				}
			}
			if tt.where == nil {
				return
			}
			want := check.Location{Path: filepath.Join(dir, tt.where.Path), Offset: tt.where.Offset}
			n := 0
			for _, v := range r.Violations {
				if *v.Where == want {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("hit %v reported %d times; findings:\n%s", want, n, dumpFindings(r))
			}
		})
	}
}

// TestCheckNoPlaintext_Base64: a JSON-lines dump of decrypted records, as a
// restore's staging directory once held, carries the marker in base64 at
// any of three alignments; each is found, and an encrypted box is not.
func TestCheckNoPlaintext_Base64(t *testing.T) {
	marker := []byte("BOXSTORM-MARKER-7f3a")
	dir := t.TempDir()
	writeBox(t, filepath.Join(dir, "pending_ops.db"), [][]byte{marker}, true)
	for shift := range 3 {
		v := append(append(bytes.Repeat([]byte{'p'}, shift), marker...), "tail"...)
		line := fmt.Sprintf("{\"k\":\"op/%d\",\"v\":\"%s\"}\n", shift, base64.StdEncoding.EncodeToString(v))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("dump%d.jsonl", shift)), []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := check.CheckNoPlaintext(dir, nil, [][]byte{marker})
	if r.Verdict != check.VerdictFail {
		t.Fatalf("verdict %s, want fail: %s", r.Verdict, r.Message)
	}
	hit := map[string]bool{}
	for _, v := range r.Violations {
		hit[filepath.Base(v.Where.Path)] = true
	}
	if len(hit) != 3 || hit["pending_ops.db"] {
		t.Fatalf("files with hits = %v, want the three dumps; findings:\n%s", hit, dumpFindings(r))
	}
}

// TestCheckNoPlaintext_ManyHits: a file full of plaintext is counted in
// full but listed briefly.
func TestCheckNoPlaintext_ManyHits(t *testing.T) {
	dir := t.TempDir()
	marker := []byte("MARK")
	os.WriteFile(filepath.Join(dir, "box.db"), bytes.Repeat(append([]byte("xx"), marker...), 1000), 0o600)
	r := check.CheckNoPlaintext(dir, nil, [][]byte{marker})
	if r.Verdict != check.VerdictFail {
		t.Fatalf("verdict %s", r.Verdict)
	}
	if len(r.Violations) > 10 {
		t.Errorf("%d findings listed for one file", len(r.Violations))
	}
	if !bytes.Contains([]byte(r.Message), []byte("1000 violations")) {
		t.Errorf("message %q does not count every hit", r.Message)
	}
}
