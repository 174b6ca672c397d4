package iso9660

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// fuzzAlphabet holds the pieces that a mapped fuzz input builds names from:
// letters that collide after uppercasing, separators that level-1 names
// replace, multi-byte characters and the path separator.
var fuzzAlphabet = []string{"a", "b", "c", "A", "B", "1", "_", "-", ".", "/", "€", "é", " ", "x", "xxxxxxxxxxxxxxxx", "€€€€€€€€€€€€€€€€"}

// Limits that keep one fuzz run fast.
const (
	maxFuzzFiles = 200
	maxFuzzData  = 5000
)

// fuzzFiles turns fuzz input into a file set, and the first byte picks the
// mode. When it is even, each remaining line is a raw path, which mostly
// tests validation. When it is odd, each byte maps to a piece of
// fuzzAlphabet, which mostly builds valid trees with colliding and long
// names.
func fuzzFiles(input []byte) []File {
	if len(input) == 0 {
		return nil
	}
	mapped := input[0]%2 == 1
	var files []File
	for _, line := range bytes.Split(input[1:], []byte("\n")) {
		if len(files) == maxFuzzFiles {
			break
		}
		var path string
		if mapped {
			var b strings.Builder
			for _, c := range line {
				b.WriteString(fuzzAlphabet[int(c)%len(fuzzAlphabet)])
			}
			path = b.String()
		} else {
			path = string(line)
		}

		sum := 0
		for _, c := range line {
			sum += int(c)
		}
		data := bytes.Repeat(append([]byte(path), byte(sum)), 1+(sum*31)%maxFuzzData/(len(path)+1))
		files = append(files, File{Path: path, Data: data})
	}
	return files
}

func FuzzWrite(f *testing.F) {
	f.Add([]byte("\x00user-data\nmeta-data\nnetwork-config\nvendor-data"))
	f.Add([]byte("\x00scripts/setup.sh\nscripts/lib/common.sh\nuser-data\na/b/c/d/e/f/g/h"))
	f.Add([]byte("\x00user-data\nuser_data\nUSER-DATA\nuser-data-extra\nuser-da1\nuser-dat/x"))
	f.Add([]byte("\x00/abs\na//b\n./x\n" + strings.Repeat("n", 65)))
	f.Add([]byte("\x00\xff\xfe\nemoji-\U0001F600\nback\\slash\ncolon:"))
	f.Add([]byte("\x00" + strings.Repeat("€", 64) + "\n" + strings.Repeat("x", 64)))
	f.Add([]byte("\x01\x00\x01\x02\x08\x01\n\x00\x01\x09\x02\n\x03\x04\x08\x05\n\x0e\x0e\x0e\n\x0f\x0f\x0f\x0f"))
	f.Add([]byte("\x01\x00\x09\x01\x09\x02\x09\x03\x09\x04\x09\x05\x09\x0d"))
	// Forty names of 50 characters and forty of 50 euro signs fill
	// several directory and continuation sectors.
	many := []byte{1}
	for i := range 40 {
		many = append(many, 14, 14, 14, byte(i/6), byte(i%6), '\n', 15, 15, 15, byte(i/6), byte(i%6), '\n')
	}
	f.Add(many[:len(many)-1])

	f.Fuzz(func(t *testing.T, input []byte) {
		files := fuzzFiles(input)
		var buf bytes.Buffer
		err := Write(&buf, files, Options{ModTime: testTime})
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("Write failed with an error that is not about a path: %v", err)
			}
			if buf.Len() != 0 {
				t.Fatalf("Write wrote %d bytes before failing with %v", buf.Len(), err)
			}
			return
		}

		checkContents(t, buf.Bytes(), files)

		reversed := slices.Clone(files)
		slices.Reverse(reversed)
		if !bytes.Equal(buf.Bytes(), writeBytes(t, reversed, Options{ModTime: testTime})) {
			t.Fatal("writing the files in reverse order gives different bytes")
		}
	})
}
