// Package cli is the command-line machinery shared by boxstorm's tools
// (storectl, loadgen and chaos): the command table, flag parsing and --help
// rendering, the usage and hint errors, the exit codes, and the reporter that
// prints a failed command as "<prog>: error: …" and "<prog>: hint: …" lines.
//
// What differs between the tools (storectl's global flags and action groups,
// loadgen's flag order, chaos's hidden worker) is configured through
// [Program] and [Command]; what the tools do stays in their own packages.
package cli
