package image

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// copyChunk is the unit of the sparse copy: chunks that are all zero become
// holes in the copy.
const copyChunk = 64 << 10

// copySparse copies src to a new read-only file dst, leaving holes where src
// has zero chunks, so a sparse 2 GiB raw image does not become 2 GiB of
// written blocks. It returns the file size.
func copySparse(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", dst, err)
	}
	defer out.Close()

	buf := make([]byte, copyChunk)
	zero := make([]byte, copyChunk)
	var size int64
	for {
		n, readErr := io.ReadFull(in, buf)
		if n > 0 {
			if bytes.Equal(buf[:n], zero[:n]) {
				if _, err := out.Seek(int64(n), io.SeekCurrent); err != nil {
					return 0, fmt.Errorf("write %s: %w", dst, err)
				}
			} else if _, err := out.Write(buf[:n]); err != nil {
				return 0, fmt.Errorf("write %s: %w", dst, err)
			}
			size += int64(n)
		}
		if readErr == io.EOF || readErr == io.ErrUnexpectedEOF {
			break
		}
		if readErr != nil {
			return 0, fmt.Errorf("read %s: %w", src, readErr)
		}
	}
	if err := out.Truncate(size); err != nil {
		return 0, fmt.Errorf("set size of %s: %w", dst, err)
	}
	if err := out.Sync(); err != nil {
		return 0, fmt.Errorf("sync %s: %w", dst, err)
	}
	if err := out.Chmod(0o444); err != nil {
		return 0, fmt.Errorf("make %s read-only: %w", dst, err)
	}
	return size, out.Close()
}
