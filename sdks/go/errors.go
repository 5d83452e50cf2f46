package thrun

import (
	"errors"
	"fmt"
)

// PermanentError says that trying again cannot help: the worker dead-letters the message at once
// with the reason code non_retryable (as TypeScript's permanent()), and the error's message.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Code is the dead-letter reason code.
func (e *PermanentError) Code() string { return "non_retryable" }

// Permanent marks err as permanent: `return thrun.Permanent(err)`.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	var p *PermanentError
	if errors.As(err, &p) {
		return err
	}
	return &PermanentError{Err: err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// IsPermanent reports whether err, or an error it wraps, was marked permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// coded is implemented by errors that name their dead-letter reason code.
type coded interface{ Code() string }

// errorCode is the dead-letter reason code of a handler failure.
func errorCode(err error) string {
	var c coded
	if errors.As(err, &c) {
		return c.Code()
	}
	return "handler_failed"
}
