//go:build !js && !linux && !darwin && !freebsd

package badger

import (
	"errors"
	"os"
)

// statfsFree has no way to measure free space on this platform, so the
// store skips its free-space check here.
func statfsFree(string) (int64, error) { return 0, errors.ErrUnsupported }

func allocatedBytes(fi os.FileInfo) int64 { return fi.Size() }
