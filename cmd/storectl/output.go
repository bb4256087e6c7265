// This file holds the small formatting helpers the commands share.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/boxstorm/boxstorm/store"
)

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeResult writes a store report: JSON with asJSON, else its String
// form when it has one, else JSON anyway.
func writeResult(w io.Writer, v any, asJSON bool) error {
	if s, ok := v.(fmt.Stringer); ok && !asJSON {
		text := s.String()
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		_, err := io.WriteString(w, text)
		return err
	}
	return writeJSON(w, v)
}

// stamp formats a time for text output; "-" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// list formats ids for text output; "none" when there are none.
func list(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", len(ids), strings.Join(ids, ", "))
}

// behind notes, after a schema version, that migrations are pending.
func behind(v int) string {
	if latest := store.LatestSchemaVersion(); v < latest {
		return fmt.Sprintf(" (latest is %d: run `storectl migrate`)", latest)
	}
	return ""
}
