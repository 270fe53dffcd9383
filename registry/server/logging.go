package server

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"slices"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/sirupsen/logrus"
)

// Distribution logs through logrus, taking its logger from a context value
// under a key of its internal dcontext package and falling back to logrus's
// process-wide standard logger. berth must not reconfigure that standard
// logger: libcontainer in the same binary logs through it too. So the
// contexts handed to distribution answer that key with a logrus entry of our
// own whose only output is a hook into slog.

// dcontextPkg and dcontextLoggerKey name the type of distribution's context
// key for its logger. If an upgrade renames it, distribution's logs go back to
// logrus's standard logger (stderr) and TestDistributionLogsReachSlog fails.
const (
	dcontextPkg       = "github.com/distribution/distribution/v3/internal/dcontext"
	dcontextLoggerKey = "loggerKey"
)

// isDistributionLoggerKey reports whether key is distribution's context key
// for its logger.
func isDistributionLoggerKey(key any) bool {
	t := reflect.TypeOf(key)
	return t != nil && t.Name() == dcontextLoggerKey && t.PkgPath() == dcontextPkg
}

// logContext answers distribution's logger lookups with entry and passes
// every other lookup on to the wrapped context.
type logContext struct {
	context.Context
	entry *logrus.Entry
}

func (c logContext) Value(key any) any {
	if isDistributionLoggerKey(key) {
		return c.entry
	}
	return c.Context.Value(key)
}

// withSlog returns ctx with distribution's logs routed to log.
func withSlog(ctx context.Context, log *slog.Logger) context.Context {
	l := logrus.New()
	l.SetOutput(io.Discard)
	// logrus drops entries below its level before any hook runs: let through
	// what slog may keep. Distribution's Info is per-request chatter that
	// slogHook lowers to Debug.
	l.SetLevel(logrus.WarnLevel)
	if log.Enabled(ctx, slog.LevelDebug) {
		l.SetLevel(logrus.DebugLevel)
	}
	l.AddHook(slogHook{log: log})
	return logContext{Context: ctx, entry: logrus.NewEntry(l)}
}

// slogHook forwards logrus entries to slog.
type slogHook struct{ log *slog.Logger }

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	level := slogLevel(e)
	if !h.log.Enabled(ctx, level) {
		return nil
	}
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, e.Data[k]))
	}
	h.log.LogAttrs(ctx, level, e.Message, attrs...)
	return nil
}

// slogLevel maps a distribution log entry to a slog level. Distribution logs
// every request at Info and every error response at Error, including the
// routine 404 a client gets when it checks whether a blob is there before
// pushing it: those are Debug here, and Error is kept for failures of the
// registry itself (5xx).
func slogLevel(e *logrus.Entry) slog.Level {
	switch {
	case e.Level <= logrus.ErrorLevel:
		if code, ok := e.Data["err.code"].(errcode.ErrorCode); ok && code.Descriptor().HTTPStatusCode < 500 {
			return slog.LevelDebug
		}
		return slog.LevelError
	case e.Level == logrus.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelDebug
	}
}
