package yamlcheck

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// pyyamlResult is one output line of testdata/pyyaml_oracle.py.
type pyyamlResult struct {
	OK      bool   `json:"ok"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Problem string `json:"problem"`
}

// pyyamlOracle runs testdata/pyyaml_oracle.py, which loads documents with
// cloud-init's own YAML loader, as one long-lived process.
type pyyamlOracle struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

var (
	oracleOnce sync.Once
	oracle     *pyyamlOracle
	oracleErr  error
)

// pythonPath is the interpreter that cloud-init runs under on Debian, whose
// python3-yaml is the PyYAML that cloud-init uses.
func pythonPath() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// needOracle returns the shared oracle. It skips the test when python3 with
// PyYAML is missing, except in CI, where scripts/test.sh installs
// cloud-init (and with it python3-yaml), so a missing oracle fails.
func needOracle(t testing.TB) *pyyamlOracle {
	t.Helper()
	oracleOnce.Do(func() {
		check := exec.Command(pythonPath(), "-c", "import yaml")
		if out, err := check.CombinedOutput(); err != nil {
			oracleErr = &oracleMissingError{string(out)}
			return
		}
		cmd := exec.Command(pythonPath(), "testdata/pyyaml_oracle.py")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			oracleErr = err
			return
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			oracleErr = err
			return
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			oracleErr = err
			return
		}
		oracle = &pyyamlOracle{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
	})
	if oracleErr != nil {
		if _, missing := oracleErr.(*oracleMissingError); missing && os.Getenv("CI") == "" {
			t.Skipf("skipping: python3 with PyYAML is not installed (%v); scripts/test.sh installs it", oracleErr)
		}
		t.Fatalf("start PyYAML oracle: %v", oracleErr)
	}
	return oracle
}

type oracleMissingError struct{ output string }

func (e *oracleMissingError) Error() string { return "import yaml failed: " + e.output }

func (o *pyyamlOracle) load(t testing.TB, doc []byte) pyyamlResult {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := io.WriteString(o.stdin, base64.StdEncoding.EncodeToString(doc)+"\n"); err != nil {
		t.Fatalf("write to PyYAML oracle: %v", err)
	}
	line, err := o.stdout.ReadBytes('\n')
	if err != nil {
		t.Fatalf("read from PyYAML oracle: %v", err)
	}
	var result pyyamlResult
	if err := json.Unmarshal(line, &result); err != nil {
		t.Fatalf("decode PyYAML oracle output %q: %v", line, err)
	}
	return result
}
