package pshost

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// Samples written for these tests in the format Windows PowerShell 5.1
// uses for its stream records on stderr.
const (
	sampleError = `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">Hyper-V\Get-VM : Hyper-V was unable to find a virtual machine with name "demo"._x000D__x000A_</S><S S="Error">At line:1 char:1_x000D__x000A_</S><S S="Error">+ Hyper-V\Get-VM -Name demo_x000D__x000A_</S><S S="Error">    + CategoryInfo          : InvalidArgument: (demo:String) [Get-VM], VirtualizationException_x000D__x000A_</S></Objs>`

	sampleProgress = `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj></Objs>`

	sampleMixed = `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T></TN><MS><I64 N="SourceId">1</I64></MS></Obj><S S="warning">The switch_x005F_name has no adapter_x000D__x000A_</S><Obj S="information" RefId="1"><TN RefId="1"><T>System.Management.Automation.InformationRecord</T></TN><ToString>Prze_x0142_ącznik ready</ToString><Props><S N="Source">Write-Host</S></Props></Obj><S S="Error">first_x000D__x000A_</S><S S="Error">second</S></Objs>`

	sampleSurrogate = `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="verbose">disk _xD83D__xDCBE_ attached</S></Objs>`
)

func TestDecodeCLIXML(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []StreamRecord
	}{
		{"error lines", sampleError, []StreamRecord{{"Error",
			"Hyper-V\\Get-VM : Hyper-V was unable to find a virtual machine with name \"demo\".\nAt line:1 char:1\n+ Hyper-V\\Get-VM -Name demo\n    + CategoryInfo          : InvalidArgument: (demo:String) [Get-VM], VirtualizationException"}}},
		{"progress only", sampleProgress, nil},
		{"mixed streams", sampleMixed, []StreamRecord{
			{"warning", "The switch_name has no adapter"},
			{"information", "Przełącznik ready"},
			{"Error", "first\nsecond"},
		}},
		{"surrogate pair", sampleSurrogate, []StreamRecord{{"verbose", "disk 💾 attached"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeCLIXML([]byte(tc.in))
			if err != nil {
				t.Fatalf("DecodeCLIXML: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records %q, want %d %q", len(got), got, len(tc.want), tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("record %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestDecodeCLIXMLRejectsOtherXML(t *testing.T) {
	for _, in := range []string{"", "<html></html>", "not xml", `<Objs><S S="Error">cut`} {
		if _, err := DecodeCLIXML([]byte(in)); err == nil {
			t.Errorf("DecodeCLIXML(%q) succeeded, want an error", in)
		}
	}
}

func FuzzDecodeCLIXML(f *testing.F) {
	for _, s := range []string{sampleError, sampleProgress, sampleMixed, sampleSurrogate, "<Objs/>", "_x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		records, err := DecodeCLIXML(data)
		for _, r := range records {
			if r.Text == "" {
				t.Fatalf("empty record in %q (err %v)", data, err)
			}
		}
	})
}

func TestStderrLogDecodesBlocks(t *testing.T) {
	input := "plain line\r\n" + CLIXMLMarker + "\r\n" + sampleError + "\r\n" + CLIXMLMarker + "\r\n" + sampleProgress + "\r\n"
	s := newStderrLog(strings.NewReader(input), slog.New(slog.NewTextHandler(io.Discard, nil)))
	<-s.done
	tail := s.Tail()
	if !strings.HasPrefix(tail, "plain line | Hyper-V\\Get-VM : Hyper-V was unable") {
		t.Errorf("Tail() = %q, want the plain line then the decoded error", tail)
	}
	for _, raw := range []string{"<Objs", "_x000D_", "Preparing modules"} {
		if strings.Contains(tail, raw) {
			t.Errorf("Tail() = %q contains %q", tail, raw)
		}
	}
}
