package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// emitter is how a source hands work on: campaigns to sync to the
// workers, and what needs no sync call (a record that cannot be synced or
// stored, a listing's later copy, a dead letter to retire) straight to the
// writer.
type emitter struct {
	jobs    chan<- job
	results chan<- result
}

// job hands j to a worker; false means the run stopped.
func (em emitter) job(ctx context.Context, j job) bool {
	select {
	case em.jobs <- j:
		return true
	case <-ctx.Done():
		return false
	}
}

// result hands r to the writer; false means the run stopped.
func (em emitter) result(ctx context.Context, r result) bool {
	select {
	case em.results <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// reasonUnlisted is why a dead letter whose campaign a complete listing no
// longer has is retired.
const reasonUnlisted = "no longer listed"

// listCampaigns is Run's source: it ranges over the account's listing,
// page by page, and hands on the campaigns not synced since skipSince,
// asking the store which were once per page. Each
// row carries the time its page arrived as its ListedAt.
//
// A record that cannot be decoded, or that the store would refuse
// (store.Campaign.Validate), fails at once: no rate-limited sync call is
// spent on it. A later copy of a campaign in the listing (Record.Duplicate)
// is not synced again: its content is written (the last valid copy wins),
// unless the first copy was skipped; a copy that is not valid is left out.
//
// Before it lists, it reads the account's dead letters: those that failed
// Options.MaxAttempts times are retired; after a complete listing, those
// whose campaign it did not list are retired too.
func (e *execution) listCampaigns(ctx context.Context, emit emitter) error {
	since := e.skipSince()
	letters, err := e.openLetters(ctx)
	if err != nil {
		return err
	}
	for key, n := range letters {
		if e.exhausted(n) {
			delete(letters, key) // retired, whether listed or not
			if !emit.result(ctx, retirement(key, e.reasonExhausted(n))) {
				return nil
			}
		}
	}

	// The ids skipped on this page and the previous one: a duplicate
	// repeats an id of one of them.
	skipped, skippedBefore := map[string]bool{}, map[string]bool{}
	for page, err := range e.s.platform.Pages(ctx) {
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopping: not a listing failure
			}
			return platformStop("list campaigns", err)
		}
		listedAt := time.Now()
		e.pageListed(page)
		checked := make([]checkedRecord, len(page.Records))
		for i, r := range page.Records {
			checked[i] = check(r, listedAt)
		}
		synced, err := e.syncedSince(ctx, checked, since)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		skipped, skippedBefore = skippedBefore, skipped
		clear(skipped)

		for _, c := range checked {
			delete(letters, c.key) // listed: its letter is not retired as unlisted
			var res result
			switch {
			case c.Duplicate && (c.err != nil || skipped[c.key] || skippedBefore[c.key]):
				e.log.Debug("a later copy of a campaign in the listing left out", "campaign_id", c.key, "invalid", c.err != nil)
				continue
			case c.Duplicate:
				res = result{key: c.key, row: c.row, copy: true}
			case c.err != nil:
				e.countSeen()
				res = result{key: c.key, raw: c.Raw, err: c.err}
			case synced[c.key]:
				e.countSeen()
				e.skipped++
				skipped[c.key] = true
				e.s.progress.skipped.Add(1)
				e.s.obs.CampaignSkipped(c.key)
				continue
			default:
				e.countSeen()
				if !emit.job(ctx, job{c: c.Campaign, raw: c.Raw, listedAt: listedAt}) {
					return nil
				}
				continue
			}
			if !emit.result(ctx, res) {
				return nil
			}
		}
	}
	if ctx.Err() != nil {
		return nil // the listing was cut short: nothing is known unlisted
	}
	for key := range letters {
		if !emit.result(ctx, retirement(key, reasonUnlisted)) {
			return nil
		}
	}
	return nil
}

// skipSince is the time campaigns synced at or after are skipped: a
// resumed run's start, or Options.SkipSyncedWithin ago, the earlier; zero
// when none is.
func (e *execution) skipSince() time.Time {
	var since time.Time
	if e.run.Resumed {
		since = e.run.StartedAt
	}
	if age := e.s.opts.SkipSyncedWithin; age > 0 {
		if cutoff := e.started.Add(-age); since.IsZero() || cutoff.Before(since) {
			since = cutoff
		}
	}
	return since
}

// checkedRecord is a listed record, checked: its dead-letter key, its row,
// and why it cannot be synced or stored, if it cannot.
type checkedRecord struct {
	adplatform.Record
	key string
	row store.Campaign
	err error
}

// check checks a listed record: it must have been decoded, and be a row
// the store accepts.
func check(r adplatform.Record, listedAt time.Time) checkedRecord {
	c := checkedRecord{Record: r, key: letterKey(r.Campaign.ID, r.Raw)}
	if r.Err != nil {
		c.err = r.Err
		return c
	}
	c.row = toStore(r.Campaign, listedAt, time.Time{})
	if err := c.row.Validate(); err != nil {
		c.err = err
		c.row = store.Campaign{}
	}
	return c
}

// openLetters reads the keys of the account's dead letters that are not
// retired, with their attempts so far.
func (e *execution) openLetters(ctx context.Context) (map[string]int, error) {
	letters := map[string]int{}
	for dl, err := range e.deadLetterPages(ctx) {
		if err != nil {
			return nil, err
		}
		letters[dl.CampaignID] = dl.Attempts
	}
	return letters, nil
}

// deadLetterPages iterates over the account's dead letters that are not
// retired, reading them a page at a time, patiently.
func (e *execution) deadLetterPages(ctx context.Context) func(yield func(store.DeadLetter, error) bool) {
	const page = 500
	return func(yield func(store.DeadLetter, error) bool) {
		after := ""
		for {
			var letters []store.DeadLetter
			err := e.patience().do(ctx, func(ctx context.Context) (err error) {
				letters, err = e.lease.DeadLetters(ctx, after, page)
				return err
			})
			if err != nil {
				yield(store.DeadLetter{}, fmt.Errorf("syncer: read the dead letters: %w", err))
				return
			}
			for _, dl := range letters {
				if !yield(dl, nil) {
					return
				}
				after = dl.CampaignID
			}
			if len(letters) < page {
				return
			}
		}
	}
}

// syncedSince returns the ids of the page's campaigns to sync (first
// copies) synced at or after since; none when since is zero.
func (e *execution) syncedSince(ctx context.Context, page []checkedRecord, since time.Time) (map[string]bool, error) {
	if since.IsZero() {
		return nil, nil
	}
	ids := make([]string, 0, len(page))
	for _, c := range page {
		if c.err == nil && !c.Duplicate {
			ids = append(ids, c.key)
		}
	}
	var done []string
	err := e.patience().do(ctx, func(ctx context.Context) (err error) {
		done, err = e.lease.SyncedSince(ctx, ids, since)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("syncer: ask the store which campaigns synced: %w", err)
	}
	synced := make(map[string]bool, len(done))
	for _, id := range done {
		synced[id] = true
	}
	return synced, nil
}

// pageListed records a page's arrival: the platform's total, the log
// line, the observer's event.
func (e *execution) pageListed(p adplatform.Page) {
	invalid := 0
	for _, r := range p.Records {
		if r.Err != nil {
			invalid++
		}
	}
	if p.Total > 0 {
		if e.total == 0 {
			e.total = p.Total
		}
		e.s.progress.total.Store(int64(p.Total))
	}
	e.log.Debug("page listed", "page", p.Number, "records", len(p.Records), "invalid", invalid, "total", p.Total)
	e.s.obs.PageListed(adplatform.PageInfo{Page: p.Number, Limit: p.Limit, Campaigns: len(p.Records) - invalid,
		Invalid: invalid, Total: p.Total, HasMore: p.HasMore})
}

// deadLetters is RetryFailed's source: the account's dead letters, page by
// page, each decoded back into its campaign and synced with the data it
// was listed with. A letter that failed Options.MaxAttempts times is
// retired instead.
func (e *execution) deadLetters(ctx context.Context, emit emitter) error {
	for dl, err := range e.deadLetterPages(ctx) {
		if err != nil {
			return err
		}
		e.countSeen()
		if e.exhausted(dl.Attempts) {
			if !emit.result(ctx, retirement(dl.CampaignID, e.reasonExhausted(dl.Attempts))) {
				return nil
			}
			continue
		}
		var c adplatform.Campaign
		err := c.UnmarshalJSON(dl.Data)
		var row store.Campaign
		if err == nil {
			// The letter's data was listed before it last failed: content
			// stored since is newer, and is not replaced by it.
			row = toStore(c, dl.LastFailedAt, time.Time{})
			err = row.Validate()
		}
		if err != nil {
			if !emit.result(ctx, result{key: dl.CampaignID, raw: dl.Data, err: fmt.Errorf("syncer: the dead letter still cannot be synced: %w", err)}) {
				return nil
			}
			continue
		}
		if !emit.job(ctx, job{c: c, raw: dl.Data, listedAt: dl.LastFailedAt}) {
			return nil
		}
	}
	return nil
}

// exhausted reports whether a dead letter that failed attempts times is
// given up on (Options.MaxAttempts).
func (e *execution) exhausted(attempts int) bool {
	limit := e.s.opts.MaxAttempts
	return limit > 0 && attempts >= limit
}

func (e *execution) reasonExhausted(attempts int) string {
	return fmt.Sprintf("failed %d times (Options.MaxAttempts is %d)", attempts, e.s.opts.MaxAttempts)
}

// retirement is the result that retires the dead letter of key.
func retirement(key, reason string) result {
	return result{key: key, retire: reason}
}

// countSeen counts one campaign (or record) the source took in.
func (e *execution) countSeen() {
	e.seen++
	e.s.progress.seen.Add(1)
}

// letterKey is the key of a record's dead letter: the campaign's id, or
// for a record without one that a store can keep (none, or not valid
// text), a key derived from its bytes.
func letterKey(id string, raw []byte) string {
	if id != "" && store.ValidateText(id) == nil {
		return id
	}
	sum := sha256.Sum256(raw)
	return "undecodable:" + hex.EncodeToString(sum[:16])
}
