//go:build !js && !linux

package badger

import "os"

// dataSync makes f's data durable.
func dataSync(f *os.File) error { return f.Sync() }

// preallocate sets f's size; without fallocate the filesystem may give it
// blocks only when they are first written.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }
