// Package errdefs gives errors the exit code mydocker ends with, so that
// packages say what went wrong and main alone decides how to report it.
package errdefs

import (
	"errors"
	"fmt"
)

// Exit codes shared with Docker's CLI.
const (
	CodeGeneral       = 1   // a command failed (no such container, ...)
	CodeRuntime       = 125 // mydocker itself failed before the container ran
	CodeCannotExecute = 126 // the command exists but could not be executed
	CodeNotFound      = 127 // the command was not found in the container
)

type codedError struct {
	err  error
	code int
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// WithCode attaches an exit code to err.
func WithCode(err error, code int) error {
	if err == nil {
		return nil
	}
	return &codedError{err: err, code: code}
}

// Errorf is fmt.Errorf with an exit code.
func Errorf(code int, format string, args ...any) error {
	return &codedError{err: fmt.Errorf(format, args...), code: code}
}

// Code returns the exit code attached to err, if any.
func Code(err error) (int, bool) {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code, true
	}
	var st Status
	if errors.As(err, &st) {
		return int(st), true
	}
	return 0, false
}

// Status is a container's exit status passed through as mydocker's own: it
// carries no message, because the container already said what it had to.
type Status int

func (s Status) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// Quiet is an error whose message has already been shown to the user: main
// exits with its code and prints nothing more.
var Quiet = errors.New("")

// NotFound marks a lookup that matched nothing (container, image, network).
var NotFound = errors.New("not found")

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == NotFound }

// NotFoundf returns an error with the formatted message that Is NotFound.
func NotFoundf(format string, args ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, args...)}
}

// IsNotFound reports whether err is, or wraps, NotFound.
func IsNotFound(err error) bool { return errors.Is(err, NotFound) }
