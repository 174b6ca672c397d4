package logging

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
)

// FileMode is the mode of log files on Unix: logs may name callers and
// paths, so only the service's user reads them.
const FileMode = 0o600

// dirMode is the mode of a log directory that the rotator creates.
const dirMode = 0o750

// RotatingFile is an io.Writer that appends to a log file and rotates it by
// size. When a write would grow the file past MaxSize, the file is renamed
// to <path>.1, older backups move up by one (<path>.1 to <path>.2, and so
// on), the backup past MaxFiles is removed, and a new file is started.
// Each Write goes to one file whole, so a log line is never split.
type RotatingFile struct {
	path     string
	maxSize  int64
	maxFiles int
	onError  func(error)

	mu   sync.Mutex
	file *os.File
	size int64
	// nextRotation is the size at which the next rotation is tried. It is
	// maxSize, or further after a failed rotation so that a file that
	// cannot be renamed is not retried on every line.
	nextRotation int64
}

// OpenRotatingFile opens path for appending, creating it and its directory
// when missing. maxSize is in bytes and must be positive. maxFiles is the
// number of backups kept and may be zero. onError receives errors of
// rotations that failed while the writes themselves went on; nil ignores
// them.
func OpenRotatingFile(path string, maxSize int64, maxFiles int, onError func(error)) (*RotatingFile, error) {
	if maxSize <= 0 {
		return nil, fmt.Errorf("invalid maximum log file size %d bytes: use a positive size", maxSize)
	}
	if maxFiles < 0 {
		return nil, fmt.Errorf("invalid number of log backups %d: use 0 or more", maxFiles)
	}
	if onError == nil {
		onError = func(error) {}
	}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return nil, fmt.Errorf("create log directory %s: %w", filepath.Dir(path), err)
	}
	r := &RotatingFile{path: path, maxSize: maxSize, maxFiles: maxFiles, onError: onError, nextRotation: maxSize}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// Path returns the path of the current log file.
func (r *RotatingFile) Path() string { return r.path }

// Write appends p to the current file, rotating it first when p would make
// it larger than the maximum size. A p larger than the maximum size goes to
// a fresh file of its own. If the rotation fails, p is still written to the
// current file and the error goes to onError.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	if r.file == nil {
		return 0, fmt.Errorf("write log file %s: %w", r.path, os.ErrClosed)
	}
	if r.size > 0 && r.size+int64(len(p)) > r.nextRotation {
		if err := r.rotate(); err != nil {
			r.nextRotation = r.size + r.maxSize
			r.onError(err)
		}
	}
	n, err := r.file.Write(p)
	r.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("write log file %s: %w", r.path, err)
	}
	return n, nil
}

// Close closes the current file. Writes after Close fail.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil {
		return nil
	}
	err := r.file.Close()
	r.file = nil
	return err
}

// open opens the current file for appending and records its size.
func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, FileMode)
	if err != nil {
		return fmt.Errorf("open log file %s: %w", r.path, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log file %s: %w", r.path, err)
	}
	// A file created earlier with another mode is tightened too.
	if runtime.GOOS != "windows" && info.Mode().Perm() != FileMode {
		if err := f.Chmod(FileMode); err != nil {
			f.Close()
			return fmt.Errorf("set mode %o on log file %s: %w", FileMode, r.path, err)
		}
	}
	r.file, r.size = f, info.Size()
	return nil
}

// rotate moves the backups up by one, renames the current file to
// <path>.1 and opens a new current file. The current file is closed during
// the renames because Windows cannot rename an open file. When renaming it
// fails, rotate reopens it so that logging goes on, and returns the error.
func (r *RotatingFile) rotate() error {
	if err := r.file.Close(); err != nil {
		r.onError(fmt.Errorf("close log file %s before rotation: %w", r.path, err))
	}
	r.file = nil

	rotateErr := r.shiftBackups()
	if err := r.open(); err != nil {
		// Nothing can be written now: report both errors, and let Write
		// fail until a later open succeeds.
		return errors.Join(rotateErr, err)
	}
	if rotateErr != nil {
		return rotateErr
	}
	r.nextRotation = r.maxSize
	return nil
}

// shiftBackups renames <path>.(i) to <path>.(i+1) from the oldest down,
// drops the backup past maxFiles, then renames <path> to <path>.1. With
// maxFiles zero it removes <path>.
func (r *RotatingFile) shiftBackups() error {
	if r.maxFiles == 0 {
		if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log file %s: remove it: %w", r.path, err)
		}
		return nil
	}
	if err := os.Remove(BackupPath(r.path, r.maxFiles)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate log file %s: remove oldest backup: %w", r.path, err)
	}
	for i := r.maxFiles - 1; i >= 1; i-- {
		err := os.Rename(BackupPath(r.path, i), BackupPath(r.path, i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log file %s: rename backup %d: %w", r.path, i, err)
		}
	}
	if err := os.Rename(r.path, BackupPath(r.path, 1)); err != nil {
		return fmt.Errorf("rotate log file %s: rename it to %s (on Windows another program may hold it open): %w",
			r.path, BackupPath(r.path, 1), err)
	}
	return nil
}

// BackupPath returns the path of backup i of the log file path: path.1 is
// the newest.
func BackupPath(path string, i int) string {
	return path + "." + strconv.Itoa(i)
}
