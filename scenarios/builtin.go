package scenarios

import (
	"cmp"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// builtin holds the shipped scenarios, so that the chaos tool runs them
// with no files on disk.
//
//go:embed *.yaml
var builtin embed.FS

// Builtin loads every shipped scenario, sorted by name. Each call returns
// fresh values that the caller may change.
func Builtin() ([]*Scenario, error) {
	names, err := fs.Glob(builtin, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list built-in scenarios: %w", err)
	}
	all := make([]*Scenario, 0, len(names))
	for _, name := range names {
		sc, err := loadBuiltin(name)
		if err != nil {
			return nil, err
		}
		all = append(all, sc)
	}
	slices.SortFunc(all, func(a, b *Scenario) int { return cmp.Compare(a.Name, b.Name) })
	return all, nil
}

// Lookup loads the shipped scenario with the given name; a trailing .yaml
// is ignored. An unknown name gives an error wrapping ErrNotFound.
func Lookup(name string) (*Scenario, error) {
	name = strings.TrimSuffix(name, ".yaml")
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("scenario %s: %w", quote(name), ErrNotFound)
	}
	return loadBuiltin(name + ".yaml")
}

func loadBuiltin(file string) (*Scenario, error) {
	data, err := builtin.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", quote(strings.TrimSuffix(file, ".yaml")), ErrNotFound)
	}
	return Load(file, data)
}
