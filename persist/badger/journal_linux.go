//go:build linux

package badger

import (
	"os"
	"syscall"
)

// dataSync makes f's data durable, leaving out metadata such as the
// modification time that reading the data back does not need.
func dataSync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// preallocate reserves size bytes of disk for f, so that writing the
// journal never needs a block the filesystem has not already given it.
func preallocate(f *os.File, size int64) error {
	return syscall.Fallocate(int(f.Fd()), 0, 0, size)
}
