package protocol

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Code is a stable snake_case error code. Clients branch on it, so codes are
// never renamed.
type Code string

// Error codes.
const (
	// CodeInvalidRequest: the line is not valid JSON or UTF-8, or id,
	// command, parameters or stream has the wrong shape.
	CodeInvalidRequest Code = "invalid_request"
	// CodeUnknownCommand: no command has that name.
	CodeUnknownCommand Code = "unknown_command"
	// CodeInvalidParameter: a parameter is unknown, missing or has a bad
	// type or value.
	CodeInvalidParameter Code = "invalid_parameter"
	// CodeNotFound: the named VM, template, operation or file does not exist.
	CodeNotFound Code = "not_found"
	// CodeConflict: the target is busy or already exists.
	CodeConflict Code = "conflict"
	// CodePermissionDenied: the caller may not use the service.
	CodePermissionDenied Code = "permission_denied"
	// CodeTooLarge: the request line is longer than the service accepts.
	CodeTooLarge Code = "too_large"
	// CodeTimeout: the request did not arrive, or the work did not finish,
	// within its deadline.
	CodeTimeout Code = "timeout"
	// CodeUnavailable: the service cannot do this now, for example because
	// no hypervisor driver is configured or the service is stopping.
	CodeUnavailable Code = "unavailable"
	// CodeInternal: a bug or an unexpected failure inside the service.
	CodeInternal Code = "internal"
)

// Codes lists every error code, in documentation order.
var Codes = []Code{
	CodeInvalidRequest, CodeUnknownCommand, CodeInvalidParameter, CodeNotFound,
	CodeConflict, CodePermissionDenied, CodeTooLarge, CodeTimeout,
	CodeUnavailable, CodeInternal,
}

// Error is the data of an error response, and the error type that handlers
// return to choose the code.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is makes errors.Is(err, &Error{Code: c}) match any *Error with code c.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Message == "" && t.Code == e.Code
}

// AsError converts err to an *Error. It keeps the code of an *Error found in
// the chain, maps context deadline and cancellation errors to timeout and
// unavailable, and reports anything else as internal with err's text.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Message == "" || err.Error() == e.Error() {
			return e
		}
		// Keep the context that wrapping added, under the original code.
		return &Error{Code: e.Code, Message: trimCodePrefix(err.Error(), e)}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &Error{Code: CodeUnavailable, Message: err.Error()}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// trimCodePrefix removes the "code: " that (*Error).Error adds, so a wrapped
// message reads "starting VM: not found: ..." as "starting VM: ...".
func trimCodePrefix(text string, e *Error) string {
	return strings.Replace(text, e.Error(), e.Message, 1)
}
