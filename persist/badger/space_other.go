//go:build !js && !linux && !darwin && !freebsd

package badger

import (
	"errors"
	"os"
)

// statfsFree is not implemented here: the space check is skipped.
func statfsFree(string) (int64, error) { return 0, errors.ErrUnsupported }

func allocatedBytes(fi os.FileInfo) int64 { return fi.Size() }
