//go:build tools

// Package deps pins modules during development; it is removed once every module is imported for real.
package deps
import (
 _ "github.com/tidwall/buntdb"
 _ "github.com/HdrHistogram/hdrhistogram-go"
 _ "github.com/AdaLogics/go-fuzz-headers"
 _ "golang.org/x/crypto/chacha20poly1305"
 _ "golang.org/x/crypto/argon2"
 _ "github.com/spf13/pflag"
 _ "filippo.io/age"
 _ "github.com/anishathalye/porcupine"
 _ "gonum.org/v1/plot"
 _ "github.com/schollz/progressbar/v3"
 _ "github.com/goccy/go-yaml"
 _ "github.com/rogpeppe/go-internal/testscript"
 _ "golang.org/x/term"
 _ "golang.org/x/sys/unix"
)
