package sandbox

import (
	"time"

	"github.com/eigen-os/rm/modules/abi"
)

// EventKind says what happened to a module.
type EventKind string

// Event kinds.
const (
	EventPushed      EventKind = "pushed"       // a version was verified and stored
	EventRejected    EventKind = "rejected"     // a push was refused (Err says why)
	EventActivated   EventKind = "activated"    // a version became the active one of its kind
	EventDeactivated EventKind = "deactivated"  // no module of the kind is active: built-in strategy
	EventRolledBack  EventKind = "rolled_back"  // an earlier version was re-activated
	EventShadowSet   EventKind = "shadow_set"   // a version runs in shadow beside the active one
	EventShadowClear EventKind = "shadow_clear" // shadow mode ended
	EventShadowDiff  EventKind = "shadow_diff"  // the shadow answered differently (Detail says how)
	EventFailure     EventKind = "failure"      // a call failed (Err: *CallError); the caller fell back
	EventQuarantined EventKind = "quarantined"  // too many failures: not called until Until
	EventLoadFailed  EventKind = "load_failed"  // a stored active version could not be loaded at start
	EventWatchError  EventKind = "watch_error"  // the watched directory could not be read, or a file pushed
)

// Event is something that happened to a module. Hooks receive them
// synchronously, on the goroutine that caused them: they must return fast
// and must not call back into the Manager.
type Event struct {
	Time    time.Time
	Kind    EventKind
	Module  string
	Version int
	// ModuleKind is the module's kind (0 when unknown, e.g. a rejected binary).
	ModuleKind abi.Kind
	// Until is the end of a quarantine.
	Until time.Time
	// Err is the failure or refusal, when there is one.
	Err error
	// Detail adds context (a file name, the version replaced, a difference).
	Detail string
}
