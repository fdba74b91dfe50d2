package syncer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/syncer"
)

// quickPlatform is the fake on fake time with no rate limit and a short
// sync, for tests of what is recorded rather than of pace.
func quickPlatform(t *testing.T, opts adplatformtest.Options) (*adplatformtest.Platform, *adplatform.Client) {
	t.Helper()
	opts.RateLimit, opts.SyncLatency, opts.FailEveryNthList = -1, 100*time.Millisecond, -1
	p := virtualPlatform(t, opts)
	return p, virtualClient(t, p, 1000, time.Second)
}

// letters returns the account's dead letters by campaign id, retired ones
// included.
func letters(t *testing.T, st store.RunStore, account string) map[string]store.DeadLetter {
	t.Helper()
	dls, err := st.DeadLetters(context.Background(), account, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.DeadLetter{}
	for _, dl := range dls {
		out[dl.CampaignID] = dl
	}
	return out
}

// A failed campaign's dead letter keeps the record as the platform listed
// it, byte for byte: spacing, key order and escapes included.
func TestDeadLetterKeepsTheRecordByteForByte(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		raw := json.RawMessage("{ \"name\" : \"Caf\\u00e9 \\\"5\\\"\",\n  \"id\":\"campaign_5\", \"status\":\"active\", \"budget\": 1.50,\n" +
			"  \"impressions\": \"12\", \"clicks\": 3, \"conversions\": 0, \"extra\": [1, {\"x\": null}] }")
		_, client := quickPlatform(t, adplatformtest.Options{Campaigns: 10, RawRecords: map[int]json.RawMessage{4: raw},
			SyncErrors: map[string]int{"campaign_5": 400}})
		st := memory.New()
		rep := run(t, newSyncer(t, client, st, syncer.Options{}))
		if rep.Failed != 1 || rep.Synced != 9 {
			t.Fatalf("report %+v; want campaign_5 failed, the rest synced", rep)
		}
		// The fake lists the record compacted, its escapes and number
		// forms as they were: re-encoding the campaign would give neither.
		var listed bytes.Buffer
		if err := json.Compact(&listed, raw); err != nil {
			t.Fatal(err)
		}
		dl, ok := letters(t, st, "acct")["campaign_5"]
		if !ok || string(dl.Data) != listed.String() {
			t.Errorf("dead letter data:\n%s\nwant the record as listed:\n%s", dl.Data, listed.String())
		}
		if !strings.Contains(dl.Error, "400") {
			t.Errorf("dead letter error %q: want the platform's 400", dl.Error)
		}
	})
}

// A campaign the store will refuse fails before its sync call: no
// rate-limited request is spent on it. It is a dead letter, under its id
// when a store can keep that as a key, else under a key derived from its
// bytes.
func TestRecordsTheStoreRefusesCostNoSyncCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		long := strings.Repeat("x", store.MaxIDBytes+1)
		list := []adplatform.Campaign{
			{ID: "ok", Name: "fine", Status: "active", Budget: "1"},
			{ID: "nul-name", Name: "bad\x00name", Status: "active", Budget: "2"},
			{ID: long, Name: "long id", Status: "active", Budget: "3"},
			{ID: "nul\x00id", Name: "NUL in the id", Status: "active", Budget: "4"},
		}
		platform, client := quickPlatform(t, adplatformtest.Options{CampaignList: list})
		st := memory.New()
		rep := run(t, newSyncer(t, client, st, syncer.Options{}))
		if rep.Seen != 4 || rep.Synced != 1 || rep.Failed != 3 {
			t.Fatalf("report %+v; want ok synced, the 3 others failed", rep)
		}
		if n := platform.Stats().Endpoints[adplatform.EndpointSync].Requests; n != 1 {
			t.Errorf("%d sync requests; want 1, for the one campaign a store accepts", n)
		}
		var recErr *store.RecordError
		for _, f := range rep.Failures {
			if !errors.As(f.Err, &recErr) {
				t.Errorf("failure %.20q: %v; want the store's *RecordError", f.CampaignID, f.Err)
			}
		}
		got := letters(t, st, "acct")
		if len(got) != 3 {
			t.Fatalf("%d dead letters; want 3", len(got))
		}
		if dl := got["nul-name"]; !strings.Contains(string(dl.Data), `bad\u0000name`) {
			t.Errorf("nul-name's letter holds %s; want the listed record", dl.Data)
		}
		if _, ok := got[long]; !ok {
			t.Errorf("the over-long id's letter is not under its id")
		}
		for key, dl := range got {
			if strings.HasPrefix(key, "undecodable:") && !strings.Contains(string(dl.Data), `nul\u0000id`) {
				t.Errorf("letter %s holds %s; want the record with the NUL id", key, dl.Data)
			}
		}
	})
}

// After a complete listing, dead letters whose campaign is no longer
// listed are retired, with the reason; a listing that broke part way
// retires nothing.
func TestUnlistedDeadLettersAreRetired(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := memory.New()
		failing := map[string]int{"campaign_3": 400, "campaign_8": 400}
		_, before := quickPlatform(t, adplatformtest.Options{Campaigns: 10, SyncErrors: failing})
		if rep := run(t, newSyncer(t, before, st, syncer.Options{})); rep.Failed != 2 {
			t.Fatalf("first run: %+v; want 2 failed", rep)
		}

		// campaign_8 is gone; the listing breaks after the first 5, and
		// campaign_3 still fails.
		broken := &scriptedPlatform{campaigns: scriptedCampaigns(5), pageSize: 5,
			listErr: &adplatform.APIError{Endpoint: adplatform.EndpointList, StatusCode: 503, Attempts: 5},
			sync: func(_ context.Context, id string) (adplatform.SyncResult, error) {
				if id == "campaign_3" {
					return adplatform.SyncResult{}, &adplatform.APIError{Endpoint: adplatform.EndpointSync, StatusCode: 400}
				}
				return adplatform.SyncResult{CampaignID: id}, nil
			}}
		if _, err := newSyncer(t, broken, st, syncer.Options{}).Run(context.Background()); err == nil {
			t.Fatal("a broken listing: want an error")
		}
		if got := letters(t, st, "acct"); !got["campaign_8"].RetiredAt.IsZero() {
			t.Errorf("campaign_8's letter was retired after a broken listing: %+v", got["campaign_8"])
		}

		// The next run resumes that one, and lists to the end.
		_, after := quickPlatform(t, adplatformtest.Options{Campaigns: 5, SyncErrors: failing})
		rep := run(t, newSyncer(t, after, st, syncer.Options{}))
		if rep.Retired != 1 || rep.Failed != 1 {
			t.Errorf("report %+v; want campaign_8's letter retired, campaign_3 failed again", rep)
		}
		got := letters(t, st, "acct")
		if dl := got["campaign_8"]; dl.RetiredAt.IsZero() || dl.RetiredReason != "no longer listed" {
			t.Errorf("campaign_8's letter %+v; want it retired as no longer listed", dl)
		}
		if dl := got["campaign_3"]; !dl.RetiredAt.IsZero() || dl.Attempts != 3 {
			t.Errorf("campaign_3's letter %+v; want it open, after 3 attempts", dl)
		}
	})
}

// A dead letter that failed MaxAttempts times is retired when the next
// pass starts, and RetryFailed no longer spends a sync call on it; with a
// negative MaxAttempts, never.
func TestMaxAttemptsRetiresDeadLetters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		max     int
		retired bool
	}{{2, true}, {-1, false}} {
		t.Run(itoa(max(tc.max, 0)), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				st := memory.New()
				platform, client := quickPlatform(t, adplatformtest.Options{Campaigns: 5, SyncErrors: map[string]int{"campaign_3": 400}})
				opts := syncer.Options{MaxAttempts: tc.max}
				run(t, newSyncer(t, client, st, opts))
				run(t, newSyncer(t, client, st, opts)) // campaign_3: 2 failures
				rep, err := newSyncer(t, client, st, opts).RetryFailed(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				calls := platform.Stats().Syncs["campaign_3"].Calls
				dl := letters(t, st, "acct")["campaign_3"]
				if !tc.retired {
					if rep.Retired != 0 || calls != 3 || !dl.RetiredAt.IsZero() {
						t.Errorf("retry %+v, %d calls, letter %+v; want it retried, not retired", rep, calls, dl)
					}
					return
				}
				if rep.Retired != 1 || rep.Synced+rep.Failed != 0 || calls != 2 {
					t.Errorf("retry %+v after %d calls; want the letter retired, not retried", rep, calls)
				}
				if dl.RetiredAt.IsZero() || !strings.Contains(dl.RetiredReason, "MaxAttempts") || dl.Attempts != 2 {
					t.Errorf("letter %+v; want it retired after 2 attempts, saying why", dl)
				}
			})
		})
	}
}

// The scenario: a dead letter listed with 100 impressions stayed
// while the campaign was synced since with 500 (a flush of old that
// committed the row but not the resolve). RetryFailed syncs it from the
// letter, listed at the letter's LastFailedAt: the newer 500 stays, the
// sync time moves, the letter goes, and the pass is a run of kind retry.
func TestRetryFailedKeepsNewerContent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := memory.New()
		old := adplatform.Campaign{ID: "campaign_1", Name: "Campaign 1", Status: "active", Budget: "10", Impressions: 100}
		data, err := json.Marshal(old)
		if err != nil {
			t.Fatal(err)
		}
		lease, err := st.Acquire(ctx, "acct")
		if err != nil {
			t.Fatal(err)
		}
		r, err := lease.StartRun(ctx, store.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := lease.Commit(ctx, store.Batch{RunID: r.ID, DeadLetters: []store.DeadLetter{{CampaignID: "campaign_1", Data: data, Error: "HTTP 503"}},
			Finish: &store.RunFinish{Status: store.RunCompleted}}); err != nil {
			t.Fatal(err)
		}
		lease.Release(ctx)

		time.Sleep(time.Minute)
		newer := store.Campaign{ID: "campaign_1", Name: "Campaign 1", Status: "active", Budget: "10", Impressions: 500,
			ListedAt: time.Now(), SyncedAt: time.Now()}
		if err := st.Upsert(ctx, "acct", []store.Campaign{newer}); err != nil {
			t.Fatal(err)
		}

		time.Sleep(time.Minute)
		_, client := quickPlatform(t, adplatformtest.Options{Campaigns: 1})
		rep, err := newSyncer(t, client, st, syncer.Options{}).RetryFailed(ctx)
		if err != nil || rep.Synced != 1 || !rep.Retry {
			t.Fatalf("RetryFailed: %v, %+v", err, rep)
		}
		c, err := st.Get(ctx, "acct", "campaign_1")
		if err != nil || c.Impressions != 500 || !c.SyncedAt.After(newer.SyncedAt) {
			t.Errorf("campaign_1 stored as %+v (%v); want impressions 500 kept, synced_at moved on", c, err)
		}
		if got := letters(t, st, "acct"); len(got) != 0 {
			t.Errorf("dead letters left: %+v", got)
		}
		runs, err := st.Runs(ctx, "acct", store.RunQuery{Kind: store.KindRetry})
		if err != nil || len(runs) != 1 || runs[0].Status != store.RunCompleted || runs[0].Synced != 1 {
			t.Errorf("retry runs %+v (%v); want one, completed, 1 synced", runs, err)
		}
	})
}

// pickyStore is a store of one's own with a rule of its own: it refuses
// campaigns named "evil", as a service's CHECK constraint would.
type pickyStore struct{ *memory.Store }

func (p pickyStore) Upsert(ctx context.Context, account string, cs []store.Campaign) error {
	var keep []store.Campaign
	var rejected []*store.RecordError
	for i, c := range cs {
		if c.Name == "evil" {
			rejected = append(rejected, &store.RecordError{ID: c.ID, Index: i, Field: "name", Reason: "evil"})
			continue
		}
		keep = append(keep, c)
	}
	if err := p.Store.Upsert(ctx, account, keep); err != nil {
		return err
	}
	if len(rejected) > 0 {
		return &store.BatchError{Rejected: rejected}
	}
	return nil
}

// A campaign the store refuses at Commit, though it passed the shared
// rules, fails after its sync call: the batch is committed again without
// it, and it is a dead letter.
func TestStoreRefusesAtCommit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		list := scriptedCampaigns(10)
		list[4].Name = "evil"
		_, client := quickPlatform(t, adplatformtest.Options{CampaignList: list})
		mem := memory.New()
		st := memory.WithBookkeeping(pickyStore{mem})
		rep := run(t, newSyncer(t, client, st, syncer.Options{}))
		if rep.Synced != 9 || rep.Failed != 1 || rep.Failures[0].CampaignID != list[4].ID {
			t.Fatalf("report %+v; want 9 synced, %s failed", rep, list[4].ID)
		}
		if got := letters(t, st, "acct"); len(got) != 1 || got[list[4].ID].Data == nil {
			t.Errorf("dead letters %+v; want %s's", got, list[4].ID)
		}
		if n := len(syncedIDs(t, mem, "acct", 10)); n != 9 {
			t.Errorf("%d campaigns stored synced; want 9", n)
		}
	})
}
