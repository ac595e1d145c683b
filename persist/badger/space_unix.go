//go:build linux || darwin || freebsd

package badger

import (
	"os"
	"syscall"
)

// statfsFree returns the bytes available to unprivileged users on the
// filesystem holding dir.
func statfsFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// allocatedBytes returns the space a file takes on disk, which for a
// sparse file is less than its size.
func allocatedBytes(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
