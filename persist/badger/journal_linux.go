//go:build linux

package badger

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dataSync makes f's data durable, leaving out metadata such as the
// modification time that reading the data back does not need.
func dataSync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// preallocate reserves size bytes of disk for f, so that writing the
// journal never needs a block the filesystem has not already given it.
func preallocate(f *os.File, size int64) error {
	return syscall.Fallocate(int(f.Fd()), 0, 0, size)
}

// openDirect opens the file name for direct, synchronous writes and returns
// it with the alignment of offsets and lengths they need, or nil if the
// filesystem does not support them (statx reports no direct I/O alignment,
// or the open fails) or needs memory aligned beyond memAlign.
func openDirect(name string) (*os.File, int64) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, name, 0, unix.STATX_DIOALIGN, &st); err != nil ||
		st.Mask&unix.STATX_DIOALIGN == 0 || st.Dio_offset_align == 0 || st.Dio_mem_align > memAlign {
		return nil, 1
	}
	f, err := os.OpenFile(name, os.O_WRONLY|syscall.O_DIRECT|syscall.O_DSYNC, 0)
	if err != nil {
		return nil, 1
	}
	return f, int64(st.Dio_offset_align)
}
