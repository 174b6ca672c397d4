package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// DefaultPollInterval is how often Tail checks a followed file for new
// lines and for rotation.
const DefaultPollInterval = 250 * time.Millisecond

// tailChunk is the size of the blocks read backwards to find the last lines.
const tailChunk = 64 << 10

// TailOptions configures Tail.
type TailOptions struct {
	// Path is the current log file.
	Path string
	// Lines is the number of last lines printed first. Zero prints none.
	Lines int
	// MaxBackups is the number of backups (Path.1, Path.2, ...) that may
	// be read when the current file has fewer than Lines lines.
	MaxBackups int
	// Follow keeps printing lines as they are appended, across rotations,
	// until the context ends.
	Follow bool
	// PollInterval is the time between checks for new lines while
	// following. Zero means DefaultPollInterval.
	PollInterval time.Duration
	// OnWait is called once when Follow waits for a file that does not
	// exist yet. Nil ignores it.
	OnWait func(path string)
}

// Tail writes the last opts.Lines lines of the log to w and, with Follow,
// then writes what is appended, until ctx ends. Following survives
// rotation: when the path names a new file, Tail reads the rest of the old
// one and continues at the start of the new one. It also restarts from the
// beginning of a file that was truncated. Without Follow a missing log file
// is an error that wraps fs.ErrNotExist. Tail returns nil when ctx ends.
func Tail(ctx context.Context, w io.Writer, opts TailOptions) error {
	if opts.Lines < 0 {
		return fmt.Errorf("invalid number of lines %d: use 0 or more", opts.Lines)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}

	f, err := openShared(opts.Path)
	switch {
	case err == nil:
		defer func() {
			if f != nil {
				f.Close()
			}
		}()
	case errors.Is(err, fs.ErrNotExist) && opts.Follow:
		if opts.OnWait != nil {
			opts.OnWait(opts.Path)
		}
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("log file %s not found: the service has not written its log there yet; check log.file in the config file, or start the service with \"vmgenie serve\": %w", opts.Path, err)
	default:
		return fmt.Errorf("open log file %s: %w", opts.Path, err)
	}

	var offset int64
	if f != nil {
		info, err := f.Stat()
		if err != nil {
			return fmt.Errorf("stat log file %s: %w", opts.Path, err)
		}
		offset = info.Size()
		if err := writeLastLines(w, f, offset, opts); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	follower := &follower{w: w, path: opts.Path, maxBackups: opts.MaxBackups, file: f, offset: offset}
	err = follower.run(ctx, opts.PollInterval)
	f = follower.file
	return err
}

// writeLastLines writes the last opts.Lines lines of the current file,
// whose first size bytes are read, preceded by lines of the backups when
// the current file has fewer.
func writeLastLines(w io.Writer, current *os.File, size int64, opts TailOptions) error {
	if opts.Lines == 0 {
		return nil
	}
	data, count, err := lastLines(current, size, opts.Lines)
	if err != nil {
		return fmt.Errorf("read log file %s: %w", opts.Path, err)
	}
	parts := [][]byte{data}
	for i := 1; count < opts.Lines && i <= opts.MaxBackups; i++ {
		backup, n, err := lastLinesOfFile(BackupPath(opts.Path, i), opts.Lines-count)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return err
		}
		parts = append(parts, backup)
		count += n
	}
	for i := len(parts) - 1; i >= 0; i-- {
		part := parts[i]
		if len(part) == 0 {
			continue
		}
		// A file that does not end with a newline would join its last
		// line with the first line of the next file.
		if i > 0 && part[len(part)-1] != '\n' {
			part = append(part, '\n')
		}
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return nil
}

func lastLinesOfFile(path string, n int) ([]byte, int, error) {
	f, err := openShared(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("stat log file %s: %w", path, err)
	}
	data, count, err := lastLines(f, info.Size(), n)
	if err != nil {
		return nil, 0, fmt.Errorf("read log file %s: %w", path, err)
	}
	return data, count, nil
}

// lastLines returns the last n lines among the first size bytes of r, and
// how many lines that is (fewer than n when r has fewer). A last line
// without a newline counts as a line. It reads backwards in blocks, so the
// cost depends on the lines returned, not on the file size.
func lastLines(r io.ReaderAt, size int64, n int) ([]byte, int, error) {
	if n <= 0 || size == 0 {
		return nil, 0, nil
	}
	var buf []byte
	for end := size; end > 0; {
		start := max(0, end-tailChunk)
		block := make([]byte, end-start)
		if _, err := r.ReadAt(block, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		buf = append(block, buf...)
		end = start
		// n newlines before the last line's own newline mark where the
		// last n lines start.
		if bytes.Count(trimNewline(buf), []byte{'\n'}) >= n {
			break
		}
	}

	body := trimNewline(buf)
	cut := len(body)
	for count := 1; count <= n; count++ {
		i := bytes.LastIndexByte(body[:cut], '\n')
		if i < 0 {
			return buf, count, nil
		}
		if count == n {
			return buf[i+1:], n, nil
		}
		cut = i
	}
	return buf, n, nil
}

// trimNewline returns b without its final newline, if it has one.
func trimNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b[:len(b)-1]
	}
	return b
}

// follower copies what is appended to a log file to w, across rotations.
type follower struct {
	w          io.Writer
	path       string
	maxBackups int
	file       *os.File // nil while waiting for the file to exist
	offset     int64
}

func (fl *follower) run(ctx context.Context, poll time.Duration) error {
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		if err := fl.step(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// step copies new data, then checks whether the path now names another
// file (a rotation) or a shorter one (a truncation).
func (fl *follower) step() error {
	if fl.file == nil {
		f, err := openShared(fl.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("open log file %s: %w", fl.path, err)
		}
		fl.file, fl.offset = f, 0
	}

	if err := fl.copyNew(); err != nil {
		return err
	}

	current, err := fl.file.Stat()
	if err != nil {
		return fmt.Errorf("stat log file %s: %w", fl.path, err)
	}
	named, err := os.Stat(fl.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && !os.SameFile(current, named)):
		// Rotated: the old file may have got lines between the copy
		// above and its rename, so read it to the end once more.
		if err := fl.copyNew(); err != nil {
			return err
		}
		fl.file.Close()
		fl.file = nil
		return fl.copyNewerBackups(current)
	case err != nil:
		return fmt.Errorf("stat log file %s: %w", fl.path, err)
	case current.Size() < fl.offset:
		fl.offset = 0
	}
	return nil
}

// copyNewerBackups copies, oldest first, the backups written after the
// file old, which the follower had open. They exist when the file rotated
// more than once between two polls. old is now the backup with the same
// file identity; when no backup has it, old was removed as the oldest,
// and every backup is newer.
//
// NOTE: a rotation during this scan shifts the backup names, so lines can
// still be missed when the service rotates several times a second.
func (fl *follower) copyNewerBackups(old os.FileInfo) error {
	newer := 0
	for i := 1; i <= fl.maxBackups; i++ {
		info, err := os.Stat(BackupPath(fl.path, i))
		if err != nil {
			break
		}
		if os.SameFile(info, old) {
			break
		}
		newer = i
	}
	for i := newer; i >= 1; i-- {
		if err := fl.copyWhole(BackupPath(fl.path, i)); err != nil {
			return err
		}
	}
	return nil
}

// copyWhole copies the file at path to w. A file that is gone is skipped.
func (fl *follower) copyWhole(path string) error {
	f, err := openShared(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open log file %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.Copy(fl.w, f); err != nil {
		return fmt.Errorf("follow log file %s: %w", path, err)
	}
	return nil
}

// copyNew copies the file from the offset to its current end.
func (fl *follower) copyNew() error {
	section := io.NewSectionReader(fl.file, fl.offset, 1<<62)
	n, err := io.Copy(fl.w, section)
	fl.offset += n
	if err != nil {
		return fmt.Errorf("follow log file %s: %w", fl.path, err)
	}
	return nil
}
