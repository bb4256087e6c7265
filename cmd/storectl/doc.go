// Command storectl operates a boxstorm store directory from the shell: each
// procedure of the persistence runbook is a subcommand over package store.
//
// Usage:
//
//	storectl [global flags] COMMAND [flags] [args]
//
// Every command that opens a store needs --dir and exactly one key source:
// --key-file FILE, --key-env NAME or --passphrase-env NAME. Secrets are never
// taken as flag values, and key bytes are never printed.
//
// Exit codes: 0 success; 1 a problem was found (damage, a mismatch, a refusal,
// a wrong key, a locked store, something not found); 2 a usage error. Errors
// are printed as "storectl: error: …", often followed by "storectl: hint: …".
//
// Run "storectl --help" for the command list and "storectl help COMMAND" for a
// command's flags and examples.
package main
