//go:build !js

package badger

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	bdb "github.com/dgraph-io/badger/v4"
)

// slogLogger adapts slog to BadgerDB's logger, keeping warnings and
// errors only: BadgerDB reports routine compactions and flushes at info
// level.
type slogLogger struct{ l *slog.Logger }

func newLogger(l *slog.Logger) bdb.Logger {
	if l == nil {
		return nil
	}
	return slogLogger{l}
}

func (a slogLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "badger")
}

func (a slogLogger) Errorf(format string, args ...any) { a.log(slog.LevelError, format, args) }

func (a slogLogger) Warningf(format string, args ...any) { a.log(slog.LevelWarn, format, args) }

func (slogLogger) Infof(string, ...any) {}

func (slogLogger) Debugf(string, ...any) {}
