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
// (zero: none skipped). It asks the store which were synced once per page.
func (e *execution) listCampaigns(ctx context.Context, since time.Time, emit emitter) error {
	ids := make([]string, 0, 100)
	for page, err := range e.s.platform.Pages(ctx) {
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopping: not a listing failure
			}
			return fmt.Errorf("syncer: list campaigns: %w", err)
		}
		listedAt := time.Now()
		e.pageListed(page)

		var synced map[string]bool
		if !since.IsZero() {
			ids = ids[:0]
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
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("syncer: ask the store which campaigns synced: %w", err)
			}
			synced = make(map[string]bool, len(done))
			for _, id := range done {
				synced[id] = true
			}
		}

		for _, r := range page.Records {
			switch {
			case r.Duplicate:
				continue
			case r.Err != nil:
				e.countSeen()
				emit.results <- undecodable(r.Err.ID, r.Err.Raw, r.Err)
			case synced[r.Campaign.ID]:
				e.countSeen()
				e.skipped++
				e.s.progress.skipped.Add(1)
				e.s.obs.CampaignSkipped(r.Campaign.ID)
			default:
				e.countSeen()
				select {
				case emit.jobs <- job{c: r.Campaign, listedAt: listedAt}:
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
	return nil
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
				emit.results <- undecodable(dl.CampaignID, dl.Data, fmt.Errorf("syncer: dead letter still undecodable: %w", err))
				continue
			}
			select {
			// The letter's data was listed before it last failed: content
			// stored since is newer, and is not replaced by it.
			case emit.jobs <- job{c: c, listedAt: dl.LastFailedAt}:
			case <-ctx.Done():
				return nil
			}
		}
		if len(letters) < page {
			return nil
		}
	}
}
