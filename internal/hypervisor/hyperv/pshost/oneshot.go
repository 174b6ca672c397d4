package pshost

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// MaxEnvValue is the longest environment variable value Windows accepts,
// in characters. A one-shot request longer than this cannot be sent.
const MaxEnvValue = 32766

// runOneShot runs req in a process of its own. The call succeeds when the
// process exits with code 0 and writes an ok response; both must agree.
func runOneShot(ctx context.Context, starter Starter, req Request, log *slog.Logger) (Response, error) {
	encoded, err := EncodeRequest(req)
	if err != nil {
		return Response{}, fmt.Errorf("encode the request: %w", err)
	}
	if len(encoded) > MaxEnvValue {
		return Response{}, fmt.Errorf("the %s request is %d characters in base64, above the %d that fit in %s; only the long-lived PowerShell host can send it",
			req.Op, len(encoded), MaxEnvValue, RequestEnv)
	}
	began := time.Now()
	proc, err := starter.Start(OneShotCommand(encoded))
	if err != nil {
		return Response{}, fmt.Errorf("start PowerShell for %s: %w", req.Op, err)
	}
	plog := log.With("pid", proc.PID(), "op", req.Op)
	proc.Stdin().Close()
	stderr := newStderrLog(proc.Stderr(), plog)
	lines := make(chan []byte, 4)
	go func() {
		defer close(lines)
		br := bufio.NewReader(proc.Stdout())
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				lines <- line
			}
			if err != nil {
				if err != io.EOF {
					plog.Warn("reading PowerShell's output failed", "err", err)
				}
				return
			}
		}
	}()

	var resp *Response
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			r, err := DecodeResponse(line)
			if err != nil {
				plog.Warn("PowerShell wrote a line that is not a response", "line", truncate(line))
				continue
			}
			resp = &r
		case <-ctx.Done():
			if err := proc.Kill(); err != nil {
				plog.Warn("killing PowerShell failed", "err", err)
			}
			go func() {
				for range lines {
				}
				<-stderr.done
				proc.Wait()
			}()
			return Response{}, fmt.Errorf("PowerShell process (pid %d) for %s: %w; it was killed", proc.PID(), req.Op, ctxErr(ctx))
		}
	}
	<-stderr.done
	code, err := proc.Wait()
	plog.Debug("PowerShell process finished", "exit_code", code, "took", time.Since(began).Round(time.Millisecond))
	if err != nil {
		return Response{}, fmt.Errorf("PowerShell process (pid %d) for %s: reading its exit code failed: %w", proc.PID(), req.Op, err)
	}
	switch {
	case resp == nil:
		return Response{}, fmt.Errorf("PowerShell process (pid %d) for %s exited with code %d without a response; stderr: %s",
			proc.PID(), req.Op, code, orNone(stderr.Tail()))
	case resp.ID != req.ID && resp.ID != 0:
		return Response{}, fmt.Errorf("PowerShell process (pid %d) for %s returned the response to request %d, want %d", proc.PID(), req.Op, resp.ID, req.ID)
	case resp.OK && code != 0:
		return Response{}, fmt.Errorf("PowerShell process (pid %d) for %s reported success but exited with code %d; stderr: %s",
			proc.PID(), req.Op, code, orNone(stderr.Tail()))
	case !resp.OK && code == 0:
		return Response{}, fmt.Errorf("PowerShell process (pid %d) for %s reported failure (%v) but exited with code 0", proc.PID(), req.Op, resp.Error)
	}
	return *resp, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
