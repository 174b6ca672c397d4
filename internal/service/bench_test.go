package service

import (
	"bufio"
	"net"
	"testing"
)

// BenchmarkStatusRoundTrip measures one status request per connection over
// the real Unix socket, with the client in the same process.
func BenchmarkStatusRoundTrip(b *testing.B) {
	ts := startServer(b, Options{Logger: discardLogger()})
	line := []byte(`{"id":"bench","command":"status","parameters":{}}` + "\n")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			conn, err := net.Dial("unix", ts.addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := conn.Write(line); err != nil {
				b.Fatal(err)
			}
			if _, err := bufio.NewReader(conn).ReadSlice('\n'); err != nil {
				b.Fatal(err)
			}
			conn.Close()
		}
	})
}
