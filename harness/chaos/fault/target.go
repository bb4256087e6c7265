package fault

import (
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/scenarios"
)

// TargetRequest is the optional target-protocol request type a store step
// of type t sends, or "" when it needs none: a run that drives a target
// that does not claim it cannot inject the step.
func TargetRequest(t scenarios.FaultType) string {
	switch t {
	case scenarios.FaultBackup:
		return target.TypeBackup
	case scenarios.FaultRestore, scenarios.FaultSchemaMismatch:
		return target.TypeRestore
	case scenarios.FaultRotateKey:
		return target.TypeRotateKey
	case scenarios.FaultMigrate:
		return target.TypeMigrate
	case scenarios.FaultErase:
		return target.TypeErase
	case scenarios.FaultRebuildIndex:
		return target.TypeRebuildIndex
	case scenarios.FaultRecover:
		return target.TypeRecover
	}
	return ""
}
