package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// LimitedPlatform is a Platform whose requests pass a client-side rate
// limiter; *adplatform.Client is one. With it, the syncer hands the
// limiter's knowledge of the platform's window over to the account's next
// holder, in another process even: every Commit of a run saves the
// limiter's state with the account (store.Batch.State), and a run restores
// it before its first request. So a process taking an account over does
// not spend slots its predecessor spent in the last window, nor ask before
// a wait the platform imposed is over.
type LimitedPlatform interface {
	Platform
	Limiter() *adplatform.Limiter
}

// handoverVersion is the version of handoverState's encoding.
const handoverVersion = 1

// handoverState is what a run saves with the account, as JSON.
type handoverState struct {
	Version int                     `json:"v"`
	Limiter adplatform.LimiterState `json:"limiter"`
	// Final is set by the Commit that ended a run: its holder sent nothing
	// after it. A state without it was saved mid-run: its holder may have
	// sent requests after it, which it does not hold.
	Final bool `json:"final,omitempty"`
	// Holder is the Syncer that saved it: a Syncer taking its own state
	// back needs nothing of it, its limiter knows.
	Holder string `json:"holder"`
}

// handover encodes the limiter's state to save with a Commit; nil (save
// nothing) when the platform has no limiter.
func (e *execution) handover(final bool) []byte {
	if e.limiter == nil {
		return nil
	}
	b, err := json.Marshal(handoverState{Version: handoverVersion, Limiter: e.limiter.State(), Final: final, Holder: e.s.holder})
	if err != nil {
		return nil // unreachable: times and a bool encode
	}
	return b
}

// takeOver restores into the platform's limiter what the account's last
// holder saved. If that holder did not finish cleanly (its last state was
// saved mid-run, or cannot be read), it may have spent slots after it: the
// limiter is then filled as if limit requests had just been sent, so that
// the first request waits out one window from now.
func (s *Syncer) takeOver(ctx context.Context, lease store.Lease, log *slog.Logger) error {
	lp, ok := s.platform.(LimitedPlatform)
	if !ok {
		return nil
	}
	limiter := lp.Limiter()
	if limiter == nil {
		return nil
	}
	saved, err := lease.State(ctx)
	if err != nil {
		return fmt.Errorf("syncer: read the account's handover state: %w", err)
	}
	if len(saved.Data) == 0 {
		return nil
	}
	var h handoverState
	if err := json.Unmarshal(saved.Data, &h); err != nil || h.Version != handoverVersion {
		log.Warn("the account's handover state cannot be read: waiting out one window before the first request",
			"version", h.Version, "err", err)
		limiter.Restore(fullWindow(limiter))
		return nil
	}
	if h.Holder == s.holder {
		return nil
	}
	limiter.Restore(h.Limiter)
	if !h.Final {
		log.Info("the account's last holder did not finish cleanly: waiting out one window before the first request",
			"saved_at", saved.SavedAt, "window", limiter.Window().String())
		limiter.Restore(fullWindow(limiter))
	}
	if until := h.Limiter.BlockedUntil; until.After(time.Now()) {
		log.Info("the platform asked the account's last holder to wait", "until", until)
	}
	return nil
}

// fullWindow is a limiter state whose log is full now: the next request
// waits one window.
func fullWindow(l *adplatform.Limiter) adplatform.LimiterState {
	now := time.Now()
	sent := make([]time.Time, l.Limit())
	for i := range sent {
		sent[i] = now
	}
	return adplatform.LimiterState{Sent: sent}
}
