//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmgenie/vmgenie/internal/client"
	"github.com/vmgenie/vmgenie/internal/protocol"
)

// testImage is the part of the test image's image.json the bench reads.
type testImage struct {
	Dir           string `json:"-"`
	Disk          string `json:"disk"`
	Kernel        string `json:"kernel"`
	Initrd        string `json:"initrd"`
	Cmdline       string `json:"cmdline"`
	KernelVersion string `json:"kernel_version"`
}

func loadImage(dir string) (testImage, error) {
	path := filepath.Join(dir, "image.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return testImage{}, fmt.Errorf("read the test image metadata: %w; build the image with scripts/build-test-image.sh", err)
	}
	img := testImage{Dir: dir}
	if err := json.Unmarshal(data, &img); err != nil {
		return testImage{}, fmt.Errorf("parse %s: %w; rebuild the image with scripts/build-test-image.sh --force", path, err)
	}
	if img.Disk == "" || img.Kernel == "" || img.Initrd == "" || img.Cmdline == "" {
		return testImage{}, fmt.Errorf("%s lacks disk, kernel, initrd or cmdline; rebuild the image with scripts/build-test-image.sh --force", path)
	}
	return img, nil
}

// storedImage is the image store's record of the imported test image.
type storedImage struct {
	Disk   string `json:"disk"`
	Kernel string `json:"kernel"`
	Initrd string `json:"initrd"`
}

// service is one "vmgenie serve --user" process with its own config, data
// directory and socket under the working directory.
type service struct {
	cfg     config
	dir     string
	dataDir string
	socket  string
	logFile string
	cmd     *exec.Cmd
	client  *client.Client
	image   storedImage

	mu sync.Mutex
	// operationID is the provisioning in flight, so cleanup can cancel it.
	operationID string
	// vms are the names provisioned and not deleted yet.
	vms map[string]bool
}

func startService(ctx context.Context, cfg config) (*service, error) {
	dir := filepath.Join(cfg.work, "service")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the service directory: %w", err)
	}
	s := &service{
		cfg: cfg, dir: dir,
		dataDir: filepath.Join(dir, "data"),
		socket:  filepath.Join(dir, "s.sock"),
		logFile: filepath.Join(dir, "service.log"),
		vms:     map[string]bool{},
	}
	s.client = client.New(s.socket)
	// The accelerator stays at its default (auto), so the bench measures
	// what a user gets; the baseline copies whatever vmgenie chose.
	config := fmt.Sprintf(`data_dir: %s
socket: %s
driver: qemu
log:
  file: %s
qemu:
  restrict_network: true
provision:
  ssh_timeout: %s
  cloud_init_timeout: %s
`, s.dataDir, s.socket, s.logFile, cfg.sshTimeout, cfg.cloudInitTimeout)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("write the service config: %w", err)
	}
	out, err := os.Create(filepath.Join(dir, "serve.out"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	s.cmd = exec.Command(cfg.binary, "serve", "--user", "--config", configPath, "--socket", s.socket)
	s.cmd.Stdout, s.cmd.Stderr = out, out
	// Its own process group keeps Ctrl-C from reaching the service, so the
	// bench can delete the VMs through it before stopping it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve: %w", cfg.binary, err)
	}
	if err := os.WriteFile(filepath.Join(cfg.work, "service.pid"), fmt.Appendf(nil, "%d\n", s.cmd.Process.Pid), 0o600); err != nil {
		return s, err
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.client.Call(ctx, "status", nil)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return s, fmt.Errorf("the service did not respond to status within 30s (last error: %w); see %s", err, s.logFile)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// importImage imports the test image under the name debian-12 and records
// where the image store put its files.
func (s *service) importImage(ctx context.Context, img testImage) error {
	params := map[string]any{
		"name": "debian-12", "os": "debian", "version": "12",
		"file":    filepath.Join(img.Dir, img.Disk),
		"kernel":  filepath.Join(img.Dir, img.Kernel),
		"initrd":  filepath.Join(img.Dir, img.Initrd),
		"cmdline": img.Cmdline,
	}
	resp, err := s.client.Call(ctx, "image.import", params)
	if err != nil {
		return fmt.Errorf("import the test image: %w", err)
	}
	var data struct {
		Image storedImage `json:"image"`
	}
	if err := json.Unmarshal(resp.Data, &data); err != nil || data.Image.Disk == "" {
		return fmt.Errorf("image.import returned no image record (%v): %s", err, resp.Data)
	}
	s.image = data.Image
	return nil
}

func (s *service) baseImagePaths() []string {
	return []string{s.image.Disk, s.image.Kernel, s.image.Initrd}
}

// artifacts are the files and settings a baseline round takes from the
// vmgenie round before it, copied out of the instance directory before the
// VM is deleted.
type artifacts struct {
	dir         string // copy of seed-data/ and the private key
	instanceDir string // the instance directory, as it appears in args
	args        []string
	baseImage   string
	baseFormat  string
	username    string
}

// provision provisions the VM bench-ROUND through the raw provision
// request with "stream": true, timing each progress line as it arrives.
func (s *service) provision(ctx context.Context, round int) (measurement, artifacts, error) {
	name := fmt.Sprintf("bench-%d", round)
	instanceDir := filepath.Join(s.dataDir, "cloud", name)
	m := measurement{side: "vmgenie", round: round, stages: map[string]time.Duration{}, loadBefore: loadAverage()}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	pidSeen := watchFile(watchCtx, filepath.Join(instanceDir, "qemu.pid"))

	var overlay overlaySize
	var overlayErr error
	var qemuImg chan qemuImgResult
	s.mu.Lock()
	s.vms[name] = true
	s.mu.Unlock()

	params := map[string]any{"template": "debian-12", "vm_name": name}
	start := time.Now()
	resp, err := s.client.Do(ctx, "provision", params, true, func(line protocol.Response) {
		at := time.Since(start)
		var p protocol.Progress
		if json.Unmarshal(line.Data, &p) != nil {
			return
		}
		if p.OperationID != "" {
			s.mu.Lock()
			s.operationID = p.OperationID
			s.mu.Unlock()
		}
		if _, seen := m.stages[p.Stage]; seen {
			return
		}
		m.stages[p.Stage] = at
		m.order = append(m.order, p.Stage)
		if p.Stage == "start_vm" {
			// create_vm has finished and QEMU has not started yet, so
			// this is the overlay as created.
			disk := filepath.Join(instanceDir, "disk.qcow2")
			overlay, overlayErr = statOverlay(disk)
			qemuImg = startQemuImgInfo(disk)
		}
	})
	end := time.Since(start)
	if err != nil {
		// The operation ID stays recorded, because an interrupted request
		// leaves the service provisioning until cleanup cancels it.
		return m, artifacts{}, fmt.Errorf("provision %s: %w; see %s", name, err, s.logFile)
	}
	s.mu.Lock()
	s.operationID = ""
	s.mu.Unlock()
	m.toReady = end
	if overlayErr != nil {
		return m, artifacts{}, overlayErr
	}
	m.overlay = overlay
	if qemuImg != nil {
		r := <-qemuImg
		if r.err != nil {
			return m, artifacts{}, r.err
		}
		m.qemuImgActual = r.actualSize
	}
	var ok bool
	if m.toSSH, ok = m.stages["wait_cloud_init"]; !ok {
		return m, artifacts{}, fmt.Errorf("provision %s sent no wait_cloud_init progress line, so the time to SSH is unknown", name)
	}
	m.toCloudInit = end
	m.qemuStart, m.qemuStartFromStep = pidTimes(pidSeen, start, m.stages["start_vm"])

	var result struct {
		Result struct {
			Instance struct {
				Username string `json:"username"`
			} `json:"instance"`
		} `json:"result"`
	}
	if err := json.Unmarshal(resp.Data, &result); err != nil || result.Result.Instance.Username == "" {
		return m, artifacts{}, fmt.Errorf("provision %s returned no instance username (%v): %s", name, err, resp.Data)
	}
	if m.events, err = readServiceEvents(s.logFile, name, start); err != nil {
		return m, artifacts{}, err
	}
	serialLog := filepath.Join(instanceDir, "serial.log")
	m.guestUptime = guestUptime(serialLog)
	if err := keepLog(s.cfg.logs, name+"-serial.log", serialLog); err != nil {
		return m, artifacts{}, err
	}
	art, err := s.collect(round, name, instanceDir, result.Result.Instance.Username)
	if err != nil {
		return m, artifacts{}, err
	}
	m.loadAfter = loadAverage()
	return m, art, s.delete(ctx, name)
}

// pidTimes returns when the pid file appeared, measured from the request
// and from the start_vm progress line, or -1 when it was not seen.
func pidTimes(seen <-chan time.Time, start time.Time, startStep time.Duration) (time.Duration, time.Duration) {
	select {
	case at := <-seen:
		fromRequest := at.Sub(start)
		return fromRequest, fromRequest - startStep
	default:
		return -1, -1
	}
}

// collect copies what the baseline needs out of the instance directory.
func (s *service) collect(round int, name, instanceDir, username string) (artifacts, error) {
	var driver struct {
		LastArgs  []string `json:"last_args"`
		BaseImage struct {
			Path   string `json:"path"`
			Format string `json:"format"`
		} `json:"base_image"`
	}

	driverJSON := filepath.Join(instanceDir, "driver.json")
	data, err := os.ReadFile(driverJSON)
	if err != nil {
		return artifacts{}, fmt.Errorf("read the QEMU argv of %s: %w", name, err)
	}
	if err := json.Unmarshal(data, &driver); err != nil {
		return artifacts{}, fmt.Errorf("parse %s: %w", driverJSON, err)
	}
	if len(driver.LastArgs) < 2 || driver.BaseImage.Path == "" {
		return artifacts{}, fmt.Errorf("%s lacks last_args or base_image; the QEMU driver's record format may have changed", driverJSON)
	}

	art := artifacts{
		dir:         filepath.Join(s.cfg.work, fmt.Sprintf("round-%d", round)),
		instanceDir: instanceDir,
		args:        driver.LastArgs,
		baseImage:   driver.BaseImage.Path,
		baseFormat:  driver.BaseImage.Format,
		username:    username,
	}
	if err := os.Mkdir(art.dir, 0o700); err != nil {
		return artifacts{}, err
	}

	if err := os.CopyFS(filepath.Join(art.dir, "seed-data"), os.DirFS(filepath.Join(instanceDir, "seed-data"))); err != nil {
		return artifacts{}, fmt.Errorf("copy the seed data of %s: %w", name, err)
	}
	key, err := os.ReadFile(filepath.Join(instanceDir, name+".pem"))
	if err != nil {
		return artifacts{}, fmt.Errorf("read the SSH key of %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(art.dir, "id_ed25519"), key, 0o600); err != nil {
		return artifacts{}, err
	}
	return art, nil
}

// delete removes the VM through the CLI, as a user would.
func (s *service) delete(ctx context.Context, name string) error {
	cmd := exec.CommandContext(ctx, s.cfg.binary, "delete", "--force", name)
	cmd.Env = append(os.Environ(), "VMGENIE_SOCKET="+s.socket)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vmgenie delete --force %s: %w\n%s", name, err, out)
	}
	s.mu.Lock()
	delete(s.vms, name)
	s.mu.Unlock()
	return nil
}

// cleanup cancels a provisioning in flight, deletes the VMs left and
// stops the service.
func (s *service) cleanup(ctx context.Context) error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	var errs []error
	s.mu.Lock()
	op := s.operationID
	names := make([]string, 0, len(s.vms))
	for name := range s.vms {
		names = append(names, name)
	}
	s.mu.Unlock()

	if op != "" {
		// The cancel returns at once; the follow-up with operation.get
		// waits until the rollback has removed what the step made.
		if _, err := s.client.Call(ctx, "operation.cancel", map[string]any{"operation_id": op}); err != nil {
			var protoErr *protocol.Error
			if !errors.As(err, &protoErr) || protoErr.Code != protocol.CodeConflict {
				errs = append(errs, fmt.Errorf("cancel operation %s: %w", op, err))
			}
		}
		_, _ = s.client.Do(ctx, "operation.get", map[string]any{"operation_id": op}, true, nil)
	}
	for _, name := range names {
		cmd := exec.CommandContext(ctx, s.cfg.binary, "delete", "--force", name)
		cmd.Env = append(os.Environ(), "VMGENIE_SOCKET="+s.socket)
		out, err := cmd.CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("not found")) {
			errs = append(errs, fmt.Errorf("vmgenie delete --force %s: %w: %s", name, err, strings.TrimSpace(string(out))))
		}
	}

	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		errs = append(errs, fmt.Errorf("the service did not stop within 60s of SIGTERM and was killed; see %s", s.logFile))
	}
	s.cmd = nil
	return errors.Join(errs...)
}
