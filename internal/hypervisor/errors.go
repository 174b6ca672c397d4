package hypervisor

import (
	"errors"
	"fmt"
	"strings"
)

// Error kinds. Test for them with errors.Is; every driver error of one of
// these kinds is an *Error that names the driver, the operation and the VM.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("already exists")
	ErrUnsupported  = errors.New("not supported")
	ErrInvalidState = errors.New("invalid state")
)

// Error is a driver error of a known kind.
type Error struct {
	Driver string // Driver name, such as "qemu".
	Op     string // Operation, such as "start".
	VM     string // VM id or name; empty for operations on no VM.
	Kind   error  // ErrNotFound, ErrConflict, ErrUnsupported or ErrInvalidState.
	State  State  // VM state, for ErrInvalidState.
	Detail string // What is wrong, in one sentence.
	Hint   string // Suggested fix.
	Err    error  // Underlying error, if any.
}

// Error formats e as `qemu: start "demo": invalid state: the VM is paused; run resume instead`.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Driver != "" {
		b.WriteString(e.Driver)
		b.WriteString(": ")
	}
	b.WriteString(e.Op)
	if e.VM != "" {
		fmt.Fprintf(&b, " %q", e.VM)
	}
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Is reports whether target is e's kind, so errors.Is(err, ErrNotFound) works.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// NotFound returns an ErrNotFound error for the VM id.
func NotFound(driver, op, id string) *Error {
	return &Error{Driver: driver, Op: op, VM: id, Kind: ErrNotFound,
		Detail: "no VM with this id", Hint: "run list to see the VMs that exist"}
}

// Conflict returns an ErrConflict error for the VM name.
func Conflict(driver, op, name, detail string) *Error {
	return &Error{Driver: driver, Op: op, VM: name, Kind: ErrConflict,
		Detail: detail, Hint: "choose another name, or delete the existing VM first"}
}

// Unsupported returns an ErrUnsupported error for a feature the driver lacks.
func Unsupported(driver, op, id, feature string) *Error {
	return &Error{Driver: driver, Op: op, VM: id, Kind: ErrUnsupported,
		Detail: feature + " is not supported by the " + driver + " driver"}
}

// InvalidState returns an ErrInvalidState error for a VM in state, with a
// hint that states what to do instead.
func InvalidState(driver, op, id string, state State, hint string) *Error {
	return &Error{Driver: driver, Op: op, VM: id, Kind: ErrInvalidState, State: state,
		Detail: "the VM is " + string(state), Hint: hint}
}
