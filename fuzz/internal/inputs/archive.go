package inputs

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"

	fuzzheaders "github.com/AdaLogics/go-fuzz-headers"

	"github.com/boxstorm/boxstorm/store"
)

// ArchiveMode says how FuzzBackupArchive builds the plaintext tar stream
// that it encrypts to the store's backup key.
type ArchiveMode uint8

// The archive modes. The first two start from real backups (the seeds),
// the next two from go-fuzz-headers, the last from records decoded by hand.
// The "matching meta" modes rewrite backup_meta.json to list the entries'
// real sizes, hashes and record counts, so the fuzzer gets past the hash
// check to the line checks, the staging and the swap.
const (
	// ArchiveRaw uses the body as the tar stream, unchanged.
	ArchiveRaw ArchiveMode = iota
	// ArchiveRawMatched uses the body as a tar stream, with a matching meta.
	ArchiveRawMatched
	// ArchiveTarBytes builds the tar with go-fuzz-headers' TarBytes: any
	// names, link and device types, formats.
	ArchiveTarBytes
	// ArchiveTarFiles builds entries with go-fuzz-headers' TarFiles, gives
	// most of them names from the backup layout, and adds a matching meta.
	ArchiveTarFiles
	// ArchiveStructured decodes boxes and records (see DecodeStructured)
	// and encodes them canonically with a matching meta: an archive that
	// verifies, whose records are arbitrary.
	ArchiveStructured

	numArchiveModes
)

// ArchiveInput is FuzzBackupArchive's input.
type ArchiveInput struct {
	Mode ArchiveMode
	// ExpectSchema makes Restore require the store's schema version.
	ExpectSchema bool
	Body         []byte
}

// DecodeArchive decodes FuzzBackupArchive's input: a mode byte, a flags
// byte (bit 0: ExpectSchema), and the body.
func DecodeArchive(b []byte) ArchiveInput {
	r := &reader{b: b}
	a := ArchiveInput{Mode: ArchiveMode(r.byte() % byte(numArchiveModes))}
	a.ExpectSchema = r.byte()&1 == 1
	a.Body = r.rest()
	return a
}

// Encode is the inverse of DecodeArchive, for seeds.
func (a ArchiveInput) Encode() []byte {
	flags := byte(0)
	if a.ExpectSchema {
		flags = 1
	}
	return append([]byte{byte(a.Mode), flags}, a.Body...)
}

// Plaintext builds the tar stream the input describes.
func (a ArchiveInput) Plaintext() []byte {
	switch a.Mode {
	case ArchiveRawMatched:
		return MatchMeta(readEntries(a.Body))
	case ArchiveTarBytes:
		b, _ := fuzzheaders.NewConsumer(a.Body).TarBytes()
		return b
	case ArchiveTarFiles:
		files, _ := fuzzheaders.NewConsumer(a.Body).TarFiles()
		entries := make([]Entry, 0, len(files))
		for _, f := range files {
			hdr := *f.Hdr
			hdr.Name = layoutName(hdr.Name)
			hdr.Size = int64(len(f.Body))
			entries = append(entries, Entry{Hdr: &hdr, Body: f.Body})
		}
		return MatchMeta(entries)
	case ArchiveStructured:
		return DecodeStructured(a.Body).Tar()
	}
	return a.Body
}

// Entry is one tar entry.
type Entry struct {
	Hdr  *tar.Header
	Body []byte
}

const metaName = "backup_meta.json"

// readEntries reads the entries of a tar stream up to its end or its first
// error.
func readEntries(b []byte) []Entry {
	var out []Entry
	tr := tar.NewReader(bytes.NewReader(b))
	for len(out) < 256 {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		body, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			break
		}
		out = append(out, Entry{Hdr: hdr, Body: body})
	}
	return out
}

// layoutName maps most generated names into the backup layout, chosen by
// the name's first byte, and keeps the rest (traversal, absolute paths,
// anything) as they are.
func layoutName(name string) string {
	if name == "" {
		return name
	}
	switch name[0] % 8 {
	case 0:
		return metaName
	case 1:
		return "boxes/"
	case 2, 3, 4, 5:
		return "boxes/" + systemBoxes[int(name[0])%len(systemBoxes)] + ".jsonl"
	case 6:
		return name
	}
	clean := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' {
			return r
		}
		return -1
	}, name)
	return "boxes/" + clean + ".jsonl"
}

// MatchMeta writes entries as a tar stream whose first entry is a
// backup_meta.json listing every regular boxes/<name>.jsonl entry with its
// real size, hash and line count, in entry order. The fields of an existing
// first backup_meta.json entry are kept where they parse; others get
// defaults.
func MatchMeta(entries []Entry) []byte {
	meta := map[string]any{}
	if len(entries) > 0 && entries[0].Hdr.Name == metaName {
		_ = json.Unmarshal(entries[0].Body, &meta)
		entries = entries[1:]
		if meta == nil {
			meta = map[string]any{}
		}
	}
	for k, v := range map[string]any{"format_version": 1, "schema_version": store.LatestSchemaVersion(), "created_at": fixedTime, "store_id": "fuzz", "tool_version": "fuzz"} {
		if _, ok := meta[k]; !ok {
			meta[k] = v
		}
	}
	boxes := []BoxMeta{}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Hdr.Name, "boxes/")
		if !ok || e.Hdr.Typeflag != tar.TypeReg {
			continue
		}
		name, ok = strings.CutSuffix(name, ".jsonl")
		if !ok {
			continue
		}
		boxes = append(boxes, boxMeta(name, e.Body))
	}
	meta["boxes"] = boxes
	mb, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		mb = []byte("{}")
	}
	mb = append(mb, '\n')
	all := append([]Entry{{Hdr: &tar.Header{Name: metaName, Mode: 0o600, Size: int64(len(mb)), Typeflag: tar.TypeReg, ModTime: fixedTime}, Body: mb}}, entries...)
	return writeTar(all)
}

var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// BoxMeta is one box of backup_meta.json (docs/backup-format.md).
type BoxMeta struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
}

func boxMeta(name string, dump []byte) BoxMeta {
	sum := sha256.Sum256(dump)
	return BoxMeta{Name: name, Records: int64(bytes.Count(dump, []byte("\n"))), Bytes: int64(len(dump)), SHA256: hex.EncodeToString(sum[:])}
}

func writeTar(entries []Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := *e.Hdr
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			hdr.Size = int64(len(e.Body))
		}
		if tw.WriteHeader(&hdr) != nil {
			continue
		}
		_, _ = tw.Write(e.Body)
	}
	_ = tw.Close()
	return buf.Bytes()
}

// Structured is a backup decoded by hand: boxes of records, to be encoded
// exactly as the store writes them.
type Structured struct {
	SchemaVersion int
	Boxes         []StructuredBox
}

// StructuredBox is one box of a Structured backup.
type StructuredBox struct {
	Name    string
	Records []Record
}

// Record is one record of a backup dump; Value is what the store put in
// the dump (the record's plaintext).
type Record struct {
	Key   string
	Value []byte
}

// boxNames are the box names a structured archive picks from: the
// runbook's boxes, the fixture's data box, and boxes the store lacks.
var (
	systemBoxes = store.SystemBoxes()
	boxNames    = append(store.SystemBoxes(), "fixture_data", "zz_new_box", "a")
)

// keyPool holds record keys the store uses, so decoded records land where
// the store looks.
var keyPool = []string{
	"schema", "processing_lock",
	"op/000000000000000000000001", "op/000000000000000000000002",
	"idem/00000000000000000000000000000001",
	"0000000000000001", "0000000000000001/000000000000000000000001",
	"ledger/0001", "subject/0001",
}

// DecodeStructured decodes a structured archive: a schema version byte
// (modulo 4), a box count byte (modulo 8), and per box a name byte (index
// into the names above), a record count byte (modulo 8), and per record a
// key byte (an index into the key pool, or past it: a length byte and that
// many bytes, mapped to printable ASCII), a value length byte and the value.
func DecodeStructured(b []byte) Structured {
	r := &reader{b: b}
	s := Structured{SchemaVersion: int(r.byte() % 4)}
	nb := int(r.byte() % 8)
	for range nb {
		box := StructuredBox{Name: boxNames[int(r.byte())%len(boxNames)]}
		nr := int(r.byte() % 8)
		for range nr {
			var key string
			if k := int(r.byte()); k < len(keyPool) {
				key = keyPool[k]
			} else {
				key = printable(r.bytes(int(r.byte() % 64)))
			}
			box.Records = append(box.Records, Record{Key: key, Value: r.bytes(int(r.byte()))})
		}
		s.Boxes = append(s.Boxes, box)
	}
	return s
}

// Encode is the inverse of DecodeStructured for backups that it can
// express (names from the list, keys from the pool or printable, values
// under 256 bytes, fewer than 8 boxes and records), for seeds.
func (s Structured) Encode() []byte {
	out := []byte{byte(s.SchemaVersion), byte(len(s.Boxes))}
	for _, b := range s.Boxes {
		out = append(out, byte(slices.Index(boxNames, b.Name)), byte(len(b.Records)))
		for _, r := range b.Records {
			if i := slices.Index(keyPool, r.Key); i >= 0 {
				out = append(out, byte(i))
			} else {
				out = append(out, 255, byte(len(r.Key)))
				out = append(out, r.Key...)
			}
			out = append(out, byte(len(r.Value)))
			out = append(out, r.Value...)
		}
	}
	return out
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = 0x20 + c%0x5f
		}
		out[i] = c
	}
	if len(out) == 0 {
		return "k"
	}
	return string(out)
}

// Tar encodes s canonically (docs/backup-format.md): boxes sorted by name,
// records sorted by key without repeats (the last value wins), one line per
// record, and a meta that matches.
func (s Structured) Tar() []byte {
	byName := map[string]map[string][]byte{}
	for _, b := range s.Boxes {
		if byName[b.Name] == nil {
			byName[b.Name] = map[string][]byte{}
		}
		for _, r := range b.Records {
			byName[b.Name][r.Key] = r.Value
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	var entries []Entry
	var metas []BoxMeta
	for _, n := range names {
		keys := make([]string, 0, len(byName[n]))
		for k := range byName[n] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var dump []byte
		for _, k := range keys {
			dump = AppendLine(dump, k, byName[n][k])
		}
		metas = append(metas, boxMeta(n, dump))
		entries = append(entries, Entry{Hdr: &tar.Header{Name: "boxes/" + n + ".jsonl", Mode: 0o600, Typeflag: tar.TypeReg, ModTime: fixedTime}, Body: dump})
	}
	meta := map[string]any{"format_version": 1, "schema_version": s.SchemaVersion, "created_at": fixedTime, "store_id": "fuzz", "tool_version": "fuzz", "boxes": metas}
	if metas == nil {
		meta["boxes"] = []BoxMeta{}
	}
	mb, _ := json.MarshalIndent(meta, "", "  ")
	mb = append(mb, '\n')
	all := append([]Entry{{Hdr: &tar.Header{Name: metaName, Mode: 0o600, Typeflag: tar.TypeReg, ModTime: fixedTime}, Body: mb}}, entries...)
	return writeTar(all)
}

// AppendLine appends the canonical dump line of one record:
// {"k":"<key, with " and \ escaped>","v":"<standard base64>"} and a newline.
func AppendLine(dst []byte, key string, value []byte) []byte {
	dst = append(dst, `{"k":"`...)
	for i := 0; i < len(key); i++ {
		if key[i] == '"' || key[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, key[i])
	}
	dst = append(dst, `","v":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, value)
	return append(dst, "\"}\n"...)
}
