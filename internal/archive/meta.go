package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// FormatVersion is the archive format this package writes and reads.
const FormatVersion = 1

// MaxMetaSize caps backup_meta.json, so a hostile archive cannot make
// Read buffer an unbounded entry. It allows several thousand boxes.
const MaxMetaSize = 1 << 20

// Entry names inside the tar.
const (
	metaName  = "backup_meta.json"
	boxesDir  = "boxes"
	boxSuffix = ".jsonl"
)

// Meta is the content of backup_meta.json, the first entry of every archive.
type Meta struct {
	FormatVersion int       `json:"format_version"`
	SchemaVersion int       `json:"schema_version"`
	CreatedAt     time.Time `json:"created_at"` // RFC 3339 with nanoseconds, UTC
	StoreID       string    `json:"store_id"`
	ToolVersion   string    `json:"tool_version"`
	Boxes         []BoxMeta `json:"boxes"` // sorted by name, in tar order
}

// BoxMeta describes one box dump, boxes/<Name>.jsonl.
type BoxMeta struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`  // size of the dump exactly as stored in the tar
	SHA256  string `json:"sha256"` // lowercase hex SHA-256 of those bytes
}

// ValidBoxName reports whether name matches ^[a-z0-9_]{1,64}$, the only box
// names an archive may hold.
func ValidBoxName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// boxEntryName is the tar entry name of a box's dump.
func boxEntryName(box string) string { return boxesDir + "/" + box + boxSuffix }

// encodeMeta renders m as backup_meta.json.
func encodeMeta(m Meta) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", metaName, err)
	}
	b = append(b, '\n')
	if len(b) > MaxMetaSize {
		return nil, invalidInput("%s would be %d bytes, over the %d-byte cap", metaName, len(b), MaxMetaSize)
	}
	return b, nil
}

// decodeMeta parses and checks backup_meta.json. Every inconsistency is
// ErrTampered, except a box name outside the layout (*UnsafeEntryError) and a
// format version from the future (ErrUnsupportedFormat).
func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Meta{}, tampered("%s does not parse: %v", metaName, err)
	}
	if dec.More() {
		return Meta{}, tampered("%s has data after its object", metaName)
	}
	switch {
	case m.FormatVersion > FormatVersion:
		return Meta{}, fmt.Errorf("%s has format_version %d, this build reads %d: %w", metaName, m.FormatVersion, FormatVersion, ErrUnsupportedFormat)
	case m.FormatVersion != FormatVersion:
		return Meta{}, tampered("%s has format_version %d", metaName, m.FormatVersion)
	case m.CreatedAt.IsZero():
		return Meta{}, tampered("%s has no created_at", metaName)
	}
	for i, bm := range m.Boxes {
		if !ValidBoxName(bm.Name) {
			return Meta{}, &UnsafeEntryError{Name: bm.Name, Reason: "box name in " + metaName + " does not match ^[a-z0-9_]{1,64}$"}
		}
		if i > 0 && m.Boxes[i-1].Name >= bm.Name {
			return Meta{}, tampered("%s lists box %q out of order or twice", metaName, bm.Name)
		}
		if err := checkBoxMeta(bm); err != nil {
			return Meta{}, err
		}
	}
	return m, nil
}

// checkBoxMeta rejects sizes no dump can have: every record is one line of
// at least minLineSize bytes, and an empty box is an empty file.
func checkBoxMeta(bm BoxMeta) error {
	switch {
	case bm.Records < 0 || bm.Bytes < 0:
		return tampered("%s: box %q has a negative size", metaName, bm.Name)
	case (bm.Records == 0) != (bm.Bytes == 0):
		return tampered("%s: box %q has %d records in %d bytes", metaName, bm.Name, bm.Records, bm.Bytes)
	case bm.Records > bm.Bytes/int64(minLineSize):
		return tampered("%s: box %q has %d records in only %d bytes", metaName, bm.Name, bm.Records, bm.Bytes)
	case !isLowerHex(bm.SHA256, 64):
		return tampered("%s: box %q has a malformed sha256", metaName, bm.Name)
	}
	return nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
