package ctl

import "errors"

// ErrNotFound marks lookups of unknown networks and containers.
var ErrNotFound = errors.New("not found")

// notFound carries Docker's message and matches ErrNotFound.
type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == ErrNotFound }
