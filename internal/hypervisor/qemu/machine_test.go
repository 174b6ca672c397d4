package qemu

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMachineSaveLoad(t *testing.T) {
	m := testMachine()
	m.Dir = t.TempDir()
	m.CreatedAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	m.LastArgs = []string{"qemu-system-x86_64", "-m", "1024"}
	if err := m.save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(statePath(m.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("driver.json mode = %v, want 0600", fi.Mode().Perm())
	}
	got, err := loadMachine(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("loadMachine = %+v, want %+v", got, m)
	}
}

func TestLoadMachineErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadMachine(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("loadMachine without driver.json: err = %v, want ErrNotExist", err)
	}

	writeFile(t, statePath(dir), "{broken")
	if _, err := loadMachine(dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("loadMachine with broken JSON: err = %v, want a damaged-file error", err)
	}

	writeFile(t, statePath(dir), `{"version": 99, "dir": "`+dir+`"}`)
	if _, err := loadMachine(dir); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("loadMachine with a newer format: err = %v, want a version error", err)
	}

	writeFile(t, statePath(dir), `{"version": 1, "dir": "/elsewhere"}`)
	if _, err := loadMachine(dir); err == nil || !strings.Contains(err.Error(), "/elsewhere") {
		t.Errorf("loadMachine of a moved directory: err = %v, want it to name the recorded directory", err)
	}
}

func TestRemoveFilesKeepsOthers(t *testing.T) {
	m := testMachine()
	m.Dir = t.TempDir()
	for _, name := range []string{diskFileName, pidFileName, logFileName, serialDefault, varsFileName, stateFileName, "metadata.yml"} {
		writeFile(t, filepath.Join(m.Dir, name), "x")
	}
	m.Disk = filepath.Join(m.Dir, diskFileName)
	m.PIDFile = filepath.Join(m.Dir, pidFileName)
	m.LogFile = filepath.Join(m.Dir, logFileName)
	m.SerialLog = filepath.Join(m.Dir, serialDefault)
	m.UEFIVars = filepath.Join(m.Dir, varsFileName)
	m.QMPSocket = filepath.Join(m.Dir, qmpFileName) // absent: no error

	if err := m.removeFiles(); err != nil {
		t.Fatalf("removeFiles: %v", err)
	}
	entries, err := os.ReadDir(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "metadata.yml" {
		t.Errorf("directory after removeFiles holds %v, want only metadata.yml", entries)
	}

	os.Remove(filepath.Join(m.Dir, "metadata.yml"))
	if err := m.removeFiles(); err != nil {
		t.Fatalf("removeFiles on an emptied directory: %v", err)
	}
	if _, err := os.Stat(m.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty instance directory still exists (stat err = %v)", err)
	}
}
