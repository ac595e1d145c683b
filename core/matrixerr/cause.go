package matrixerr

// WithCause returns e as an error that also keeps cause (for example a JSON
// syntax error whose text is already part of e's message) reachable through
// errors.Unwrap, errors.Is and errors.As, while errors.As with an *Error
// target, [As] and [Write] still find e.
func WithCause(e Error, cause error) error {
	return causeError{e: e, cause: cause}
}

// causeError is an Error with the error that caused it.
type causeError struct {
	e     Error
	cause error
}

// Error formats the Matrix error.
func (c causeError) Error() string { return c.e.Error() }

// Unwrap returns the cause.
func (c causeError) Unwrap() error { return c.cause }

// As sets *target to the Matrix error when target is an *Error.
func (c causeError) As(target any) bool {
	p, ok := target.(*Error)
	if ok {
		*p = c.e
	}
	return ok
}
