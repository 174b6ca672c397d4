package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// qmpTimeout bounds connecting to QMP and each command. QEMU replies at
// once to the commands the driver sends (query-status, stop, cont,
// system_powerdown, quit, blockdev-change-medium). A longer wait means QEMU
// is hung or another client holds the socket, since QMP serves one client
// at a time.
const qmpTimeout = 10 * time.Second

// monitor is one QMP session. qmp.SocketMonitor has no deadlines, so each
// blocking call runs in a goroutine that the session abandons on timeout.
type monitor struct {
	mon  *qmp.SocketMonitor
	path string
}

// errQMPTimeout marks a QMP call that did not finish within qmpTimeout.
var errQMPTimeout = errors.New("QMP reply timed out")

// dialQMP connects to the QMP socket at path and completes the handshake.
func dialQMP(ctx context.Context, path string) (*monitor, error) {
	mon, err := qmp.NewSocketMonitor("unix", path, qmpTimeout)
	if err != nil {
		return nil, fmt.Errorf("connect to QMP socket %s: %w", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- mon.Connect() }()

	timer := time.NewTimer(qmpTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			mon.Disconnect()
			return nil, fmt.Errorf("QMP handshake on %s: %w", path, err)
		}
		return &monitor{mon: mon, path: path}, nil
	case <-ctx.Done():
		go abandonConnect(mon, done)
		return nil, fmt.Errorf("QMP handshake on %s: %w", path, ctx.Err())
	case <-timer.C:
		go abandonConnect(mon, done)
		return nil, fmt.Errorf("QMP handshake on %s: %w; another client may hold the socket", path, errQMPTimeout)
	}
}

// abandonConnect waits for a handshake that the caller abandoned and closes
// the connection, so it does not keep the QMP socket's only client slot.
// Closing it while Connect runs would race with Connect's own writes to
// the monitor.
func abandonConnect(mon *qmp.SocketMonitor, done <-chan error) {
	<-done
	mon.Disconnect()
}

// run executes a QMP command and decodes its "return" value into result,
// which may be nil.
func (m *monitor) run(ctx context.Context, command string, args, result any) error {
	req, err := json.Marshal(qmp.Command{Execute: command, Args: args})
	if err != nil {
		return fmt.Errorf("encode QMP command %s: %w", command, err)
	}
	type reply struct {
		raw []byte
		err error
	}
	done := make(chan reply, 1)
	go func() {
		raw, err := m.mon.Run(req)
		done <- reply{raw, err}
	}()

	timer := time.NewTimer(qmpTimeout)
	defer timer.Stop()
	var r reply
	select {
	case r = <-done:
	case <-ctx.Done():
		m.mon.Disconnect() // unblocks Run
		<-done
		return fmt.Errorf("QMP %s: %w", command, ctx.Err())
	case <-timer.C:
		m.mon.Disconnect()
		<-done
		return fmt.Errorf("QMP %s: %w", command, errQMPTimeout)
	}
	if r.err != nil {
		return fmt.Errorf("QMP %s: %w", command, r.err)
	}
	if result == nil {
		return nil
	}
	var body struct {
		Return json.RawMessage `json:"return"`
	}
	if err := json.Unmarshal(r.raw, &body); err != nil {
		return fmt.Errorf("decode QMP %s reply: %w", command, err)
	}
	if err := json.Unmarshal(body.Return, result); err != nil {
		return fmt.Errorf("decode QMP %s reply: %w", command, err)
	}
	return nil
}

func (m *monitor) close() { m.mon.Disconnect() }

// queryStatus returns QEMU's run state, such as "running" or "paused".
func (m *monitor) queryStatus(ctx context.Context) (string, error) {
	var st struct {
		Status string `json:"status"`
	}
	if err := m.run(ctx, "query-status", nil, &st); err != nil {
		return "", err
	}
	return st.Status, nil
}

// insertedMedium returns the file in the drive whose qdev id is device, or
// "" when it has no medium.
func (m *monitor) insertedMedium(ctx context.Context, device string) (string, error) {
	var blocks []struct {
		QDev     string `json:"qdev"`
		Device   string `json:"device"`
		Inserted *struct {
			File string `json:"file"`
		} `json:"inserted"`
	}
	if err := m.run(ctx, "query-block", nil, &blocks); err != nil {
		return "", err
	}
	for _, b := range blocks {
		if b.QDev == device || b.Device == cdromDriveID {
			if b.Inserted == nil {
				return "", nil
			}
			return b.Inserted.File, nil
		}
	}
	return "", fmt.Errorf("QMP query-block lists no drive %s", device)
}
