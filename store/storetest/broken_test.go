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
// merged keys, ignored contexts, shared buffers.
type broken struct {
	*memory.Store
	bug string

	mu       sync.Mutex
	firstUpd map[string]time.Time // updated-at-never-moves
	cleared  map[string]bool      // zero-synced-at-clears
	runAcct  map[string]string    // finish-any-account
	accounts map[string]bool      // resolve-all-accounts, synced-since-all-accounts
	dataSeen map[string][]byte    // letters-shared-data
}

func newBroken(bug string) *broken {
	return &broken{
		Store: memory.New(), bug: bug,
		firstUpd: map[string]time.Time{}, cleared: map[string]bool{}, runAcct: map[string]string{},
		accounts: map[string]bool{}, dataSeen: map[string][]byte{},
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
	case "zero-synced-at-clears":
		b.mu.Lock()
		for _, c := range cs {
			b.cleared[accountID+"\x00"+c.ID] = c.SyncedAt.IsZero()
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.accounts[accountID] = true
	b.mu.Unlock()
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
	switch b.bug {
	case "updated-at-always-now":
		c.UpdatedAt = time.Now().Round(time.Microsecond).UTC()
	case "updated-at-never-moves":
		b.mu.Lock()
		if first, ok := b.firstUpd[accountID+"\x00"+id]; ok {
			c.UpdatedAt = first
		} else {
			b.firstUpd[accountID+"\x00"+id] = c.UpdatedAt
		}
		b.mu.Unlock()
	case "zero-synced-at-clears":
		b.mu.Lock()
		if b.cleared[accountID+"\x00"+id] {
			c.SyncedAt = time.Time{}
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

func (b *broken) StartRun(ctx context.Context, accountID string, opts store.StartOptions) (store.Run, error) {
	switch b.bug {
	case "never-resume":
		opts.Fresh = true
	case "fresh-ignored":
		opts.Fresh = false
	case "run-ignore-ctx":
		ctx = context.Background()
	}
	r, err := b.Store.StartRun(ctx, accountID, opts)
	if err == nil {
		b.mu.Lock()
		b.runAcct[r.ID] = r.AccountID
		b.mu.Unlock()
	}
	return r, err
}

func (b *broken) FinishRun(ctx context.Context, r store.Run) error {
	switch b.bug {
	case "completed-is-interrupted":
		r.Status = store.RunInterrupted
	case "finish-any-account":
		b.mu.Lock()
		if a, ok := b.runAcct[r.ID]; ok {
			r.AccountID = a
		}
		b.mu.Unlock()
	}
	return b.Store.FinishRun(ctx, r)
}

func (b *broken) SyncedSince(ctx context.Context, accountID string, ids []string, since time.Time) ([]string, error) {
	switch b.bug {
	case "synced-since-strictly-after":
		since = since.Add(time.Microsecond)
	case "synced-since-capped":
		ids = ids[:min(len(ids), 1000)]
	case "synced-since-all-accounts":
		b.mu.Lock()
		accounts := make([]string, 0, len(b.accounts))
		for a := range b.accounts {
			accounts = append(accounts, a)
		}
		b.mu.Unlock()
		var all []string
		for _, a := range accounts {
			got, err := b.Store.SyncedSince(ctx, a, ids, since)
			if err != nil {
				return nil, err
			}
			all = append(all, got...)
		}
		slices.Sort(all)
		return slices.Compact(all), nil
	}
	return b.Store.SyncedSince(ctx, accountID, ids, since)
}

func (b *broken) PutDeadLetters(ctx context.Context, letters []store.DeadLetter) error {
	switch b.bug {
	case "attempts-reset":
		for _, l := range letters {
			if err := b.Store.ResolveDeadLetters(ctx, l.AccountID, []string{l.CampaignID}); err != nil {
				return err
			}
		}
	case "data-as-text":
		letters = slices.Clone(letters)
		for i := range letters {
			letters[i].Data = []byte(strings.ToValidUTF8(string(letters[i].Data), "\uFFFD"))
		}
	case "put-letters-mutates":
		for i := range letters {
			letters[i].Attempts = 1
		}
	}
	b.mu.Lock()
	for _, l := range letters {
		b.accounts[l.AccountID] = true
	}
	b.mu.Unlock()
	return b.Store.PutDeadLetters(ctx, letters)
}

func (b *broken) ResolveDeadLetters(ctx context.Context, accountID string, ids []string) error {
	switch b.bug {
	case "resolve-all-accounts":
		b.mu.Lock()
		accounts := make([]string, 0, len(b.accounts))
		for a := range b.accounts {
			accounts = append(accounts, a)
		}
		b.mu.Unlock()
		for _, a := range accounts {
			if err := b.Store.ResolveDeadLetters(ctx, a, ids); err != nil {
				return err
			}
		}
		return nil
	case "resolve-unknown-fails":
		for _, id := range ids {
			if !slices.ContainsFunc(b.all(ctx, accountID), func(l store.DeadLetter) bool { return l.CampaignID == id }) {
				return store.ErrNotFound
			}
		}
	}
	return b.Store.ResolveDeadLetters(ctx, accountID, ids)
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
