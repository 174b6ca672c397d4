package pshost

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

func TestEncodeLineIsASCII(t *testing.T) {
	values := []string{"Przełącznik domyślny", "日本語のスイッチ", "emoji 🖥️ host", "plain", "tab\tand\nnewline", "\u2028 separator"}
	for _, v := range values {
		line, err := EncodeLine(map[string]string{"name": v})
		if err != nil {
			t.Fatalf("EncodeLine(%q): %v", v, err)
		}
		for i, b := range line {
			if b >= utf8.RuneSelf {
				t.Errorf("EncodeLine(%q): byte %d is 0x%x, want ASCII only", v, i, b)
				break
			}
		}
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Errorf("EncodeLine(%q) = %q, want exactly one newline, at the end", v, line)
		}
		var back map[string]string
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatalf("decode %q: %v", line, err)
		}
		if back["name"] != v {
			t.Errorf("round trip of %q gave %q", v, back["name"])
		}
	}
}

func FuzzEncodeLine(f *testing.F) {
	for _, s := range []string{"", "Przełącznik", "🖥️", "'$(x)`;\n", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		line, err := EncodeLine(map[string]string{"v": s})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range line {
			if b >= utf8.RuneSelf {
				t.Fatalf("non-ASCII byte in %q", line)
			}
		}
		var back map[string]string
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatalf("decode %q: %v", line, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); utf8.ValidString(s) && back["v"] != want {
			t.Fatalf("round trip of %q gave %q", s, back["v"])
		}
	})
}

func TestDecodeResponse(t *testing.T) {
	cases := []struct {
		line    string
		wantErr bool
		wantOK  bool
	}{
		{`{"id":3,"ok":true,"result":{"a":1}}`, false, true},
		{`{"id":3,"ok":false,"error":{"kind":"not_found","message":"no VM"}}`, false, false},
		{`{"id":3,"ok":false}`, false, false},
		{"WARNING: something", true, false},
		{`{"ready":true,"protocol":1}`, true, false},
		{`{"id":"three","ok":true}`, true, false},
		{``, true, false},
		{`{"id":1,"ok":true`, true, false},
	}
	for _, tc := range cases {
		resp, err := DecodeResponse([]byte(tc.line))
		if tc.wantErr {
			if err == nil {
				t.Errorf("DecodeResponse(%q) succeeded, want ErrNotResponse", tc.line)
			}
			continue
		}
		if err != nil {
			t.Errorf("DecodeResponse(%q): %v", tc.line, err)
			continue
		}
		if resp.OK != tc.wantOK {
			t.Errorf("DecodeResponse(%q).OK = %v, want %v", tc.line, resp.OK, tc.wantOK)
		}
		if !resp.OK && resp.Error == nil {
			t.Errorf("DecodeResponse(%q): failed response without an error object", tc.line)
		}
	}
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"id":3,"ok":true,"result":{"a":1}}`))
	f.Add([]byte(`{"id":3,"ok":false}`))
	f.Add([]byte(`WARNING: x`))
	f.Fuzz(func(t *testing.T, line []byte) {
		resp, err := DecodeResponse(line)
		if err == nil && !resp.OK && resp.Error == nil {
			t.Fatalf("failed response without an error object from %q", line)
		}
	})
}

func TestEncodeCommandRoundTrip(t *testing.T) {
	for name, program := range map[string]string{"host": scripts.HostProgram(), "one-shot": scripts.OneShotProgram()} {
		enc := EncodeCommand(program)
		back, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if back != program {
			t.Errorf("%s program changed in the -EncodedCommand round trip", name)
		}
	}
}

func TestCommandLinesFitWindowsLimit(t *testing.T) {
	for name, cmd := range map[string]Command{"host": HostCommand(), "one-shot": OneShotCommand("")} {
		// "powershell.exe" plus a space before each argument.
		n := len(`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`)
		for _, a := range cmd.Args {
			n += 1 + len(a)
		}
		// Leave room for quoting and a longer system directory.
		if limit := MaxCommandLine - 1024; n > limit {
			t.Errorf("%s command line is %d characters, above %d; shorten lib.ps1 or the runner", name, n, limit)
		}
	}
}
