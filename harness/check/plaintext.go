package check

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// plainChunk is how much of a file no-plaintext reads at once.
const plainChunk = 1 << 20

// plainPerFile bounds the hits listed per file; all are counted.
const plainPerFile = 10

// CheckNoPlaintext scans every regular file under dir, and every path in
// extra (files, or directories to walk, such as backups kept elsewhere),
// for the marker byte strings, raw or in standard base64 at any alignment
// (a JSON dump of records is plaintext too), and reports each hit with its
// file and offset. The harness puts a marker in every payload it writes, so
// a hit is payload bytes on disk unencrypted. Symbolic links are not
// followed.
//
// A file or directory that cannot be read makes the verdict Unknown unless
// a hit already failed the check, and so does an empty marker list or an
// empty marker: nothing was proved.
func CheckNoPlaintext(dir string, extra []string, markers [][]byte) CheckResult {
	f := newChkFindings(CheckerNoPlaintext)
	if len(markers) == 0 {
		f.undecided("no markers to look for")
		return f.result("")
	}
	longest := 0
	for i, m := range markers {
		if len(m) == 0 {
			f.undecided("marker %d is empty", i)
			return f.result("")
		}
		longest = max(longest, len(m))
	}
	markers = withBase64(markers)
	for _, m := range markers {
		longest = max(longest, len(m))
	}
	var roots []string
	if dir != "" {
		roots = append(roots, dir)
	}
	roots = append(roots, extra...)
	if len(roots) == 0 {
		f.undecided("no directory or file to scan")
		return f.result("")
	}
	files, bytesRead := 0, int64(0)
	seen := map[string]bool{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				f.undecided("cannot read %s: %v", path, err)
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || seen[path] {
				return nil
			}
			seen[path] = true
			files++
			n, err := plainScanFile(path, markers, longest, f)
			bytesRead += n
			if err != nil {
				f.undecided("cannot read %s: %v", path, err)
			}
			return nil
		})
		if err != nil {
			f.undecided("cannot walk %s: %v", root, err)
		}
	}
	return f.result(fmt.Sprintf("%d markers looked for in %d files (%d bytes)", len(markers), files, bytesRead))
}

// withBase64 adds to markers their standard base64 encodings at each of the
// three alignments a marker can have in an encoded value: the characters
// that encode whole 3-byte groups of the marker alone. Markers too short to
// leave 8 such characters get no encoded form.
func withBase64(markers [][]byte) [][]byte {
	out := append([][]byte{}, markers...)
	for _, m := range markers {
		for shift := range 3 {
			whole := (len(m) - (3-shift)%3) / 3 // groups of marker bytes alone
			if whole*4 < 8 {
				continue
			}
			pad := make([]byte, shift, shift+len(m))
			enc := base64.StdEncoding.EncodeToString(append(pad, m...))
			first := 0
			if shift > 0 {
				first = 4 // the group shared with the pad bytes
			}
			out = append(out, []byte(enc[first:first+whole*4]))
		}
	}
	return out
}

// plainScanFile reports every marker hit in path. Consecutive reads overlap by
// longest-1 bytes so a marker split across two reads is found once.
func plainScanFile(path string, markers [][]byte, longest int, f *chkFindings) (int64, error) {
	file, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	buf := make([]byte, 0, plainChunk+longest)
	var base, total int64 // file offset of buf[0]; bytes read
	hits := 0
	for {
		keep := len(buf) // the overlap carried from the previous read
		if keep > longest-1 {
			copy(buf, buf[keep-(longest-1):])
			base += int64(keep - (longest - 1))
			keep = longest - 1
		}
		buf = buf[:keep]
		n, rerr := io.ReadFull(file, buf[keep:keep+plainChunk])
		buf = buf[:keep+n]
		total += int64(n)
		for mi, m := range markers {
			for from := 0; ; {
				at := bytes.Index(buf[from:], m)
				if at < 0 {
					break
				}
				at += from
				from = at + 1
				// A hit wholly inside the overlap was found by the last read.
				if at+len(m) <= keep {
					continue
				}
				hits++
				v := Violation{Kind: "plaintext", Severity: SeverityViolation,
					Where:   &Location{Path: path, Offset: base + int64(at)},
					Message: fmt.Sprintf("%s:%d: marker %d (%s) in plaintext", path, base+int64(at), mi, plainQuote(m))}
				if hits <= plainPerFile {
					f.add(v)
				} else {
					f.tally(v)
				}
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return total, nil
			}
			return total, rerr
		}
	}
}

// plainQuote shows at most 32 bytes of a marker.
func plainQuote(m []byte) string {
	if len(m) > 32 {
		return strconv.Quote(string(m[:32])) + "…"
	}
	return strconv.Quote(string(m))
}
