// Package logging sets up the service's log/slog logger: text lines to a
// size-rotated file in the data directory and, in the foreground, to stderr
// as well, with secret values redacted. It also reads the log back for
// "vmgenie logs": the last lines, and following the file across rotations.
//
// RotatingFile is our own rather than gopkg.in/natefinch/lumberjack.v2
// (v2.2.1), for three reasons found in its source. When lumberjack cannot
// rename the full file, which happens on Windows while another program has
// it open, Write returns the error and the log line is lost. RotatingFile
// writes the line to the current file and retries the rotation later.
// Lumberjack names backups by timestamp and removes old ones in a
// background goroutine. RotatingFile keeps numbered backups (vmgenie.log.1
// is the newest), removes the oldest in the rotation itself, and so lets
// Tail find the previous file without parsing names.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// Levels lists the level names that ParseLevel accepts.
var Levels = []string{"debug", "info", "warn", "error"}

// ParseLevel returns the slog level for debug, info, warn or error.
func ParseLevel(name string) (slog.Level, error) {
	if !slices.Contains(Levels, name) {
		return 0, fmt.Errorf("invalid log level %q: use %s", name, strings.Join(Levels, ", "))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(name)); err != nil {
		return 0, fmt.Errorf("invalid log level %q: %w", name, err)
	}
	return level, nil
}

// Options configures New.
type Options struct {
	// Level is the minimum level written to every destination.
	Level slog.Level
	// File is the path of the log file. Empty writes no file.
	File string
	// MaxSizeBytes is the size at which the file is rotated.
	MaxSizeBytes int64
	// MaxFiles is the number of rotated files kept besides the current one.
	MaxFiles int
	// Console receives the same lines as the file, such as os.Stderr in the
	// foreground. Nil writes no console output.
	Console io.Writer
	// Handlers receive every record too, and filter by their own level,
	// such as the Windows Event Log handler. They redact on their own.
	Handlers []slog.Handler
}

// Logger is the service's logger together with its open file.
type Logger struct {
	*slog.Logger
	file *RotatingFile
}

// New opens the log file and returns a logger that writes text lines to it
// and to opts.Console. Errors of rotations that failed, while logging went
// on, are written to opts.Console when there is one, and else logged once
// per failure at level error to the file itself. Close the logger to close
// the file.
func New(opts Options) (*Logger, error) {
	handlerOpts := &slog.HandlerOptions{Level: opts.Level, ReplaceAttr: RedactAttr}
	var handlers []slog.Handler
	if opts.Console != nil {
		handlers = append(handlers, slog.NewTextHandler(opts.Console, handlerOpts))
	}

	l := &Logger{}
	if opts.File != "" {
		file, err := OpenRotatingFile(opts.File, opts.MaxSizeBytes, opts.MaxFiles, func(err error) { l.reportRotation(opts.Console, err) })
		if err != nil {
			return nil, err
		}
		l.file = file
		handlers = append(handlers, slog.NewTextHandler(file, handlerOpts))
	}

	handlers = append(handlers, opts.Handlers...)
	switch len(handlers) {
	case 0:
		l.Logger = slog.New(slog.DiscardHandler)
	case 1:
		l.Logger = slog.New(handlers[0])
	default:
		l.Logger = slog.New(slog.NewMultiHandler(handlers...))
	}
	return l, nil
}

// reportRotation tells where a failed rotation can be seen. It runs with
// the file's lock held, so it must not log to the file synchronously: the
// line is written by a goroutine once the lock is free.
func (l *Logger) reportRotation(console io.Writer, err error) {
	if console != nil {
		fmt.Fprintf(console, "vmgenie: log rotation failed, logging goes on in the same file: %v\n", err)
		return
	}
	go l.Error("log rotation failed, logging goes on in the same file", "err", err)
}

// FilePath returns the path of the log file, or "" when there is none.
func (l *Logger) FilePath() string {
	if l.file == nil {
		return ""
	}
	return l.file.Path()
}

// Close closes the log file. The logger must not be used afterwards.
func (l *Logger) Close() error {
	if l.file == nil {
		return nil
	}
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("close log file %s: %w", l.file.Path(), err)
	}
	return nil
}
