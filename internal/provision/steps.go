package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// step is one provisioning step and the cleanup that undoes it. Cleanups
// run in reverse order when a later step fails or the work is canceled.
type step struct {
	stage   string // machine-readable name reported in progress
	message string // description of the step, for people
	percent int    // progress when the step starts
	run     func(ctx context.Context) error
	// undo removes what run made. It is registered only after run
	// succeeded, so it never gets a half-done step. A run that fails must
	// clean up after itself.
	undo func(ctx context.Context) error
}

// cleanupTimeout bounds all cleanups of one failed provisioning. They run
// on a fresh context, because the provisioning context may be the reason
// for the failure.
const cleanupTimeout = 3 * time.Minute

// runSteps runs the steps in order. On failure it runs the cleanups of the
// steps that succeeded, newest first, and returns the step's error joined
// with any cleanup error.
func runSteps(ctx context.Context, steps []step, report func(stage, message string, percent int), log *slog.Logger) error {
	var undo []step
	for _, s := range steps {
		report(s.stage, s.message, s.percent)
		err := ctx.Err()
		if err == nil {
			err = s.run(ctx)
		}
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
			}
			log.Info("provisioning step failed, rolling back", "stage", s.stage, "error", err)
			report("rollback", fmt.Sprintf("%s failed; removing what was made", s.stage), s.percent)
			return errors.Join(err, rollback(undo, log))
		}
		if s.undo != nil {
			undo = append(undo, s)
		}
	}
	return nil
}

func rollback(done []step, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		s := done[i]
		if err := s.undo(ctx); err != nil {
			log.Error("cleanup failed", "stage", s.stage, "error", err)
			errs = append(errs, fmt.Errorf("cleanup of %s failed: %w", s.stage, err))
			continue
		}
		log.Info("cleaned up", "stage", s.stage)
	}
	return errors.Join(errs...)
}
