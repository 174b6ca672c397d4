package iso9660

import (
	"testing"
)

// countingWriter discards what it is given and counts the bytes.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

func benchmarkWrite(b *testing.B, files []File) {
	b.ReportAllocs()
	var w countingWriter
	for b.Loop() {
		w.n = 0
		if err := Write(&w, files, Options{ModTime: testTime}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.n), "image-bytes")
}

// BenchmarkWriteSmallSeed writes a NoCloud seed of user-data, meta-data and
// network-config of a few hundred bytes each.
func BenchmarkWriteSmallSeed(b *testing.B) {
	benchmarkWrite(b, smallSeed())
}

// BenchmarkWriteManyFiles writes 40 files with 64-character names, whose
// directory spans several sectors.
func BenchmarkWriteManyFiles(b *testing.B) {
	benchmarkWrite(b, append(smallSeed(), manyFiles("scripts", 40)...))
}
