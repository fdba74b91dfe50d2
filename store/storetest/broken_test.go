package storetest_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
)

// broken is a memory store with one bug, named by bug: the suite must
// catch each of them. The bugs are ones real stores have: lost precision,
// merged keys, ignored contexts, shared buffers, writes that are not
// fenced or not atomic.
type broken struct {
	*memory.Store
	bug string

	mu       sync.Mutex
	firstUpd map[string]time.Time   // updated-at-never-moves
	cleared  map[string]bool        // zero-synced-at-clears
	synced   map[string]time.Time   // last-synced-at-wins
	dataSeen map[string][]byte      // letters-shared-data
	holders  map[string]store.Lease // acquire-not-exclusive
}

func newBroken(bug string) *broken {
	return &broken{
		Store: memory.New(), bug: bug,
		firstUpd: map[string]time.Time{}, cleared: map[string]bool{}, synced: map[string]time.Time{},
		dataSeen: map[string][]byte{}, holders: map[string]store.Lease{},
	}
}

// lastWriteWins makes each of cs listed no earlier than its stored row, so
// that it replaces the stored content: the store of a bug that ignores
// ListedAt.
func (b *broken) lastWriteWins(ctx context.Context, accountID string, cs []store.Campaign) {
	for i, c := range cs {
		if old, err := b.Store.Get(ctx, accountID, c.ID); err == nil && old.ListedAt.After(c.ListedAt) {
			cs[i].ListedAt = old.ListedAt
		}
	}
}

func (b *broken) Upsert(ctx context.Context, accountID string, cs []store.Campaign) error {
	in := cs
	cs = slices.Clone(cs)
	switch b.bug {
	case "ignore-account":
		accountID = "everyone"
	case "ignore-ctx":
		ctx = context.Background()
	case "cancel-error-not-wrapped":
		if ctx.Err() != nil {
			return errors.New("pq: canceling statement due to user request")
		}
		err := b.Store.Upsert(context.Background(), accountID, cs)
		if ctx.Err() != nil {
			return errors.New("pq: canceling statement due to user request")
		}
		return err
	case "empty-batch-error":
		if len(cs) == 0 {
			return errors.New("empty batch")
		}
	case "big-batch-truncated":
		cs = cs[:min(len(cs), 1000)]
	case "chunk-dedupe":
		for len(cs) > 1000 {
			if err := b.Store.Upsert(ctx, accountID, cs[:1000]); err != nil {
				return err
			}
			cs = cs[1000:]
		}
	case "sanitize-account":
		accountID = strings.ReplaceAll(strings.ToValidUTF8(accountID, ""), "\x00", "")
		if accountID == "" {
			accountID = "default"
		}
	case "mutate-input":
		for i := range in {
			in[i] = in[i].Normalize()
		}
	case "insert-only":
		cs = slices.DeleteFunc(cs, func(c store.Campaign) bool {
			_, err := b.Store.Get(ctx, accountID, c.ID)
			return err == nil
		})
	case "first-wins":
		seen := map[string]bool{}
		cs = slices.DeleteFunc(cs, func(c store.Campaign) bool { dup := seen[c.ID]; seen[c.ID] = true; return dup })
	case "older-wins":
		b.lastWriteWins(ctx, accountID, cs)
	case "lowercase-ids":
		for i := range cs {
			cs[i].ID = strings.ToLower(cs[i].ID)
		}
	case "long-id-truncated":
		for i := range cs {
			cs[i].ID = cs[i].ID[:min(len(cs[i].ID), 1000)]
		}
	case "compose-accents":
		for i := range cs {
			cs[i].Name = strings.ReplaceAll(cs[i].Name, "e\u0301", "\u00e9")
		}
	case "escape-backslashes":
		for i := range cs {
			cs[i].Name = strings.ReplaceAll(cs[i].Name, `\`, `\\`)
		}
	case "strip-nul":
		for i := range cs {
			cs[i].Name = strings.ReplaceAll(cs[i].Name, "\x00", "")
		}
	case "accept-leading-zeros":
		for i := range cs {
			if t := strings.TrimLeft(cs[i].Budget, "0"); t != cs[i].Budget && t != "" && t[0] != '.' {
				cs[i].Budget = t
			}
		}
	case "budget-digit-limit":
		var rejected []*store.RecordError
		cs = slices.DeleteFunc(cs, func(c store.Campaign) bool {
			if len(c.Budget) > 1000 {
				rejected = append(rejected, &store.RecordError{ID: c.ID, Index: slices.IndexFunc(in, func(x store.Campaign) bool { return x.ID == c.ID }), Field: "budget", Reason: "too long"})
				return true
			}
			return false
		})
		if err := b.Store.Upsert(ctx, accountID, cs); err != nil {
			return err
		}
		if len(rejected) > 0 {
			return &store.BatchError{Rejected: rejected}
		}
		return nil
	case "all-or-nothing":
		var rejected []*store.RecordError
		for i, c := range cs {
			var re *store.RecordError
			if errors.As(c.Validate(), &re) {
				re.Index = i
				rejected = append(rejected, re)
			}
		}
		if len(rejected) > 0 {
			return &store.BatchError{Rejected: rejected} // and stores nothing
		}
	case "wrong-index":
		err := b.Store.Upsert(ctx, accountID, cs)
		var be *store.BatchError
		if errors.As(err, &be) {
			for i, r := range be.Rejected {
				r.Index = i
			}
		}
		return err
	case "zero-synced-at-clears", "last-synced-at-wins":
		b.mu.Lock()
		for _, c := range cs {
			b.cleared[accountID+"\x00"+c.ID] = c.SyncedAt.IsZero()
			if !c.SyncedAt.IsZero() {
				b.synced[accountID+"\x00"+c.ID] = c.SyncedAt.Round(time.Microsecond).UTC()
			}
		}
		b.mu.Unlock()
	}
	return b.Store.Upsert(ctx, accountID, cs)
}

func (b *broken) Get(ctx context.Context, accountID, id string) (store.Campaign, error) {
	switch b.bug {
	case "ignore-account":
		accountID = "everyone"
	case "ignore-ctx":
		ctx = context.Background()
	case "lowercase-ids":
		id = strings.ToLower(id)
	case "long-id-truncated":
		id = id[:min(len(id), 1000)]
	case "sanitize-account":
		accountID = strings.ReplaceAll(strings.ToValidUTF8(accountID, ""), "\x00", "")
		if accountID == "" {
			accountID = "default"
		}
	}
	c, err := b.Store.Get(ctx, accountID, id)
	if err != nil {
		if b.bug == "not-found-unwrapped" && errors.Is(err, store.ErrNotFound) {
			return c, errors.New("campaign not found")
		}
		return c, err
	}
	key := accountID + "\x00" + id
	switch b.bug {
	case "updated-at-always-now":
		c.UpdatedAt = time.Now().Round(time.Microsecond).UTC()
	case "updated-at-never-moves":
		b.mu.Lock()
		if first, ok := b.firstUpd[key]; ok {
			c.UpdatedAt = first
		} else {
			b.firstUpd[key] = c.UpdatedAt
		}
		b.mu.Unlock()
	case "zero-synced-at-clears":
		b.mu.Lock()
		if b.cleared[key] {
			c.SyncedAt = time.Time{}
		}
		b.mu.Unlock()
	case "last-synced-at-wins":
		b.mu.Lock()
		if t, ok := b.synced[key]; ok {
			c.SyncedAt = t
		}
		b.mu.Unlock()
	case "truncate-times":
		c.CreatedAt, c.SyncedAt = c.CreatedAt.Truncate(time.Millisecond), c.SyncedAt.Truncate(time.Millisecond)
	case "local-times":
		zone := time.FixedZone("+01:00", 3600)
		c.CreatedAt, c.SyncedAt, c.UpdatedAt = c.CreatedAt.In(zone), c.SyncedAt.In(zone), c.UpdatedAt.In(zone)
	case "float-budget":
		if f, err := strconv.ParseFloat(c.Budget, 64); err == nil {
			c.Budget = strconv.FormatFloat(f, 'f', -1, 64)
		}
	case "float-ints":
		c.Impressions = int64(float64(c.Impressions))
		c.Clicks = int64(float64(c.Clicks))
	}
	return c, nil
}

func (b *broken) Acquire(ctx context.Context, accountID string) (store.Lease, error) {
	l, err := b.Store.Acquire(ctx, accountID)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == nil:
		b.holders[accountID] = l
	case errors.Is(err, store.ErrAccountBusy) && b.bug == "acquire-not-exclusive":
		l, err = b.holders[accountID], nil // a second holder, writing as the first
	case errors.Is(err, store.ErrAccountBusy) && b.bug == "busy-unwrapped":
		return nil, errors.New("account " + strconv.Quote(accountID) + " is held by another run")
	}
	if err != nil {
		return nil, err
	}
	return &brokenLease{Lease: l, b: b}, nil
}

func (b *broken) Runs(ctx context.Context, accountID string, q store.RunQuery) ([]store.Run, error) {
	runs, err := b.Store.Runs(ctx, accountID, q)
	if b.bug == "runs-oldest-first" {
		slices.Reverse(runs)
	}
	return runs, err
}

func (b *broken) LastCompletedRun(ctx context.Context, accountID string) (store.Run, error) {
	if b.bug == "last-completed-any-kind" {
		runs, err := b.Store.Runs(ctx, accountID, store.RunQuery{Limit: 1000})
		if err != nil {
			return store.Run{}, err
		}
		for _, r := range runs {
			if r.Status == store.RunCompleted {
				return r, nil
			}
		}
	}
	return b.Store.LastCompletedRun(ctx, accountID)
}

func (b *broken) PruneRuns(ctx context.Context, olderThan time.Time) (int, error) {
	if b.bug == "prune-nothing" {
		return 0, ctx.Err()
	}
	return b.Store.PruneRuns(ctx, olderThan)
}

func (b *broken) DiscardDeadLetter(ctx context.Context, accountID, campaignID string) error {
	err := b.Store.DiscardDeadLetter(ctx, accountID, campaignID)
	if b.bug == "discard-missing-ok" && errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// all lists every letter of the account through the real store.
func (b *broken) all(ctx context.Context, accountID string) []store.DeadLetter {
	got, _ := b.Store.DeadLetters(ctx, accountID, "", 1<<30)
	return got
}

func (b *broken) DeadLetters(ctx context.Context, accountID, after string, limit int) ([]store.DeadLetter, error) {
	switch b.bug {
	case "letters-unsorted":
		got, err := b.Store.DeadLetters(ctx, accountID, after, limit)
		slices.Reverse(got)
		return got, err
	case "letters-after-must-exist":
		if !slices.ContainsFunc(b.all(ctx, accountID), func(l store.DeadLetter) bool { return l.CampaignID == after }) {
			after = ""
		}
	}
	got, err := b.Store.DeadLetters(ctx, accountID, after, limit)
	switch b.bug {
	case "first-failed-moves":
		for i := range got {
			got[i].FirstFailedAt = got[i].LastFailedAt
		}
	case "letters-shared-data":
		b.mu.Lock()
		for i, l := range got {
			k := l.AccountID + "\x00" + l.CampaignID
			if d, ok := b.dataSeen[k]; ok && len(d) == len(l.Data) {
				got[i].Data = d // hands out the same buffer every time
			} else {
				b.dataSeen[k] = l.Data
			}
		}
		b.mu.Unlock()
	}
	return got, err
}

// brokenLease is a lease of a broken store, with the store's bug.
type brokenLease struct {
	store.Lease
	b        *broken
	released bool
}

func (l *brokenLease) StartRun(ctx context.Context, opts store.StartOptions) (store.Run, error) {
	switch l.b.bug {
	case "never-resume":
		opts.Fresh = true
	case "fresh-ignored":
		opts.Fresh = false
	case "max-age-ignored":
		opts.MaxResumeAge = -1
	case "retry-resumes":
		opts.Kind = store.KindSync
	case "lease-ignore-ctx":
		ctx = context.Background()
	}
	return l.Lease.StartRun(ctx, opts)
}

func (l *brokenLease) SyncedSince(ctx context.Context, ids []string, since time.Time) ([]string, error) {
	switch l.b.bug {
	case "synced-since-strictly-after":
		since = since.Add(time.Microsecond)
	case "synced-since-capped":
		ids = ids[:min(len(ids), 1000)]
	}
	return l.Lease.SyncedSince(ctx, ids, since)
}

func (l *brokenLease) DeadLetters(ctx context.Context, after string, limit int) ([]store.DeadLetter, error) {
	if l.b.bug == "retired-still-retried" {
		return l.b.Store.DeadLetters(ctx, l.AccountID(), after, limit)
	}
	return l.Lease.DeadLetters(ctx, after, limit)
}

func (l *brokenLease) Commit(ctx context.Context, batch store.Batch) error {
	switch l.b.bug {
	case "commit-after-release":
		if l.released {
			fresh, err := l.b.Store.Acquire(ctx, l.AccountID())
			if err != nil {
				return err
			}
			defer fresh.Release(ctx)
			return fresh.Commit(ctx, batch)
		}
	case "commit-not-atomic":
		if err := l.b.Store.Upsert(ctx, l.AccountID(), batch.Campaigns); err != nil {
			return err
		}
	case "commit-older-wins":
		batch.Campaigns = slices.Clone(batch.Campaigns)
		l.b.lastWriteWins(ctx, l.AccountID(), batch.Campaigns)
	case "progress-ignored":
		batch.Progress = store.RunCounts{}
	case "state-not-saved":
		batch.State = nil
	case "resolve-ignored":
		batch.Resolved = nil
	case "attempts-reset":
		for _, dl := range batch.DeadLetters {
			batch.Resolved = append(slices.Clip(batch.Resolved), dl.CampaignID)
		}
	case "data-as-text":
		batch.DeadLetters = slices.Clone(batch.DeadLetters)
		for i := range batch.DeadLetters {
			batch.DeadLetters[i].Data = []byte(strings.ToValidUTF8(string(batch.DeadLetters[i].Data), "\uFFFD"))
		}
	case "commit-mutates":
		for i := range batch.DeadLetters {
			batch.DeadLetters[i].Attempts = 1
		}
	}
	return l.Lease.Commit(ctx, batch)
}

func (l *brokenLease) Release(ctx context.Context) error {
	l.released = true
	if l.b.bug == "release-noop" {
		return nil
	}
	return l.Lease.Release(ctx)
}
