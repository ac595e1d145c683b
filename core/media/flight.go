package media

import (
	"context"
	"errors"
	"sync"
)

// flights runs one remote fetch per file at a time: concurrent requests
// for a file that is not cached wait for the first one's fetch.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	err  error
}

// do runs fn for key, or waits for the run already in progress. retry
// reports that the run waited for was abandoned because its own request
// was cancelled, which says nothing about the file: the caller should try
// again.
func (fs *flights) do(ctx context.Context, key string, fn func() error) (retry bool, err error) {
	fs.mu.Lock()
	if f, ok := fs.m[key]; ok {
		fs.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if isContextErr(f.err) && ctx.Err() == nil {
			return true, nil
		}
		return false, f.err
	}
	f := &flight{done: make(chan struct{})}
	fs.m[key] = f
	fs.mu.Unlock()
	defer func() {
		fs.mu.Lock()
		delete(fs.m, key)
		fs.mu.Unlock()
		close(f.done)
	}()
	f.err = fn()
	return false, f.err
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
