package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/store"
)

// listCampaigns is Run's source: it ranges over the account's listing,
// page by page, and hands on the campaigns not synced at or after since
// (zero: none skipped), asking the store which were once per page. Each
// row carries the time its page arrived as its ListedAt.
//
// A later copy of a campaign in the listing (Record.Duplicate) is not
// synced again: its content is written (the last valid copy wins), unless
// the first copy was skipped. A copy that cannot be decoded is left out.
func (e *execution) listCampaigns(ctx context.Context, since time.Time, emit emitter) error {
	// The ids skipped on this page and the previous one: a duplicate
	// repeats an id of one of them.
	skipped, skippedBefore := map[string]bool{}, map[string]bool{}
	for page, err := range e.s.platform.Pages(ctx) {
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopping: not a listing failure
			}
			return fmt.Errorf("syncer: list campaigns: %w", err)
		}
		listedAt := time.Now()
		e.pageListed(page)
		synced, err := e.syncedSince(ctx, page, since)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		skipped, skippedBefore = skippedBefore, skipped
		clear(skipped)

		for _, r := range page.Records {
			id := r.Campaign.ID
			var res result
			switch {
			case r.Duplicate && (r.Err != nil || skipped[id] || skippedBefore[id]):
				e.log.Debug("a later copy of a campaign in the listing left out", "campaign_id", id, "invalid", r.Err != nil)
				continue
			case r.Duplicate:
				res = result{key: id, row: toStore(r.Campaign, listedAt, time.Time{}), copy: true}
			case r.Err != nil:
				e.countSeen()
				res = failedRecord(r.Err.ID, r.Raw, r.Err)
			case synced[id]:
				e.countSeen()
				e.skipped++
				skipped[id] = true
				e.s.progress.skipped.Add(1)
				e.s.obs.CampaignSkipped(id)
				continue
			default:
				e.countSeen()
				select {
				case emit.jobs <- job{c: r.Campaign, raw: r.Raw, listedAt: listedAt}:
				case <-ctx.Done():
					return nil
				}
				continue
			}
			select {
			case emit.results <- res:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

// syncedSince returns the ids of page's campaigns (first copies) synced at
// or after since; none when since is zero.
func (e *execution) syncedSince(ctx context.Context, page adplatform.Page, since time.Time) (map[string]bool, error) {
	if since.IsZero() {
		return nil, nil
	}
	ids := make([]string, 0, len(page.Records))
	for _, r := range page.Records {
		if r.Err == nil && !r.Duplicate {
			ids = append(ids, r.Campaign.ID)
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
		e.s.progress.total.Store(int64(p.Total))
	}
	e.log.Debug("page listed", "page", p.Number, "records", len(p.Records), "invalid", invalid, "total", p.Total)
	e.s.obs.PageListed(adplatform.PageInfo{Page: p.Number, Limit: p.Limit, Campaigns: len(p.Records) - invalid,
		Invalid: invalid, Total: p.Total, HasMore: p.HasMore})
}

// deadLetters is RetryFailed's source: the account's dead letters, page by
// page, decoded back into campaigns.
func (e *execution) deadLetters(ctx context.Context, emit emitter) error {
	const page = 100
	after := ""
	for {
		var letters []store.DeadLetter
		err := e.patience().do(ctx, func(ctx context.Context) (err error) {
			letters, err = e.lease.DeadLetters(ctx, after, page)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("syncer: read dead letters: %w", err)
		}
		for _, dl := range letters {
			after = dl.CampaignID
			e.countSeen()
			var c adplatform.Campaign
			if err := json.Unmarshal(dl.Data, &c); err != nil {
				select {
				case emit.results <- failedRecord(dl.CampaignID, dl.Data, fmt.Errorf("syncer: dead letter still undecodable: %w", err)):
				case <-ctx.Done():
					return nil
				}
				continue
			}
			select {
			// The letter's data was listed before it last failed: content
			// stored since is newer, and is not replaced by it.
			case emit.jobs <- job{c: c, raw: dl.Data, listedAt: dl.LastFailedAt}:
			case <-ctx.Done():
				return nil
			}
		}
		if len(letters) < page {
			return nil
		}
	}
}
