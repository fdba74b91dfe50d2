package syncer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

// The reference behaviour: 100 campaigns, the has_more quirk, a 503 on every
// 5th list call. Listed 10 a page, two of the ten list calls meet a 503.
func TestRunReferenceBehaviour(t *testing.T) {
	t.Parallel()
	for _, pageSize := range []int{10, 100} {
		t.Run("page size "+itoa(pageSize), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := newPlatform(t, adplatformtest.Options{})
				client := newClient(t, srv, func(o *adplatform.Options) { o.PageSize = pageSize })
				st := memory.New()
				rep := run(t, newSyncer(t, client, st, syncer.Options{}))
				checkAllSynced(t, rep, srv, st, "acct", 100)

				// Every list request but the 503 retries was needed: 10 pages
				// at page size 10, one at 100.
				list := srv.Stats().Endpoints[adplatform.EndpointList]
				wantPages := 100 / pageSize
				if ok := list.Statuses[200]; ok != wantPages {
					t.Errorf("%d successful list requests, want %d", ok, wantPages)
				}
				auth := srv.Stats().Endpoints[adplatform.EndpointAuth]
				if rep.HTTPRequests != int64(auth.Requests+list.Requests+100) {
					t.Errorf("report counts %d requests, the platform received %d auth + %d list + 100 sync",
						rep.HTTPRequests, auth.Requests, list.Requests)
				}
				c, err := st.Get(context.Background(), "acct", "campaign_7")
				if err != nil {
					t.Fatal(err)
				}
				if c.Name != "Campaign 7" || c.Budget != "1700" || c.CreatedAt.IsZero() {
					t.Errorf("campaign_7 stored as %+v", c)
				}
			})
		})
	}
}

// Every fault the fake can inject ends with every campaign synced or
// reported failed with its reason: never a crash, never a silent drop.
func TestRunUnderEveryFault(t *testing.T) {
	t.Parallel()
	faults := map[string]adplatformtest.Faults{
		"503":       {Unavailable: 0.3},
		"502 html":  {BadGateway: 0.3},
		"hang":      {Hang: 0.15},
		"reset":     {Reset: 0.3},
		"malformed": {Malformed: 0.3},
		"all":       {Unavailable: 0.1, BadGateway: 0.1, Hang: 0.05, Reset: 0.1, Malformed: 0.1},
	}
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f.Seed = 42
				srv := newPlatform(t, adplatformtest.Options{Campaigns: 40, Faults: f})
				client := newClient(t, srv, func(o *adplatform.Options) {
					o.SyncTimeout = 300 * time.Millisecond // cuts a hang
					o.ListTimeout = 300 * time.Millisecond
				})
				st := memory.New()
				rep := run(t, newSyncer(t, client, st, syncer.Options{}))
				if rep.Seen != 40 || rep.Synced+rep.Failed != 40 || rep.Status == syncer.StatusInterrupted {
					t.Fatalf("seen %d, synced %d, failed %d, interrupted %v: want all 40 accounted for",
						rep.Seen, rep.Synced, rep.Failed, rep.Status == syncer.StatusInterrupted)
				}
				if rep.Retries == 0 {
					t.Errorf("no retries under %s faults: the faults did not bite", name)
				}
				for _, f := range rep.Failures {
					if f.Err == nil || f.CampaignID == "" {
						t.Errorf("failure without a reason: %+v", f)
					}
					if _, err := st.Get(context.Background(), "acct", f.CampaignID); err != nil {
						t.Errorf("failed campaign %s: listed data not stored: %v", f.CampaignID, err)
					}
				}
				letters, err := st.DeadLetters(context.Background(), "acct", "", 100)
				if err != nil || len(letters) != rep.Failed {
					t.Errorf("%d dead letters (err %v), want one per failure (%d)", len(letters), err, rep.Failed)
				}
				if rep.HTTP429 != 0 {
					t.Errorf("%d 429s", rep.HTTP429)
				}
			})
		})
	}
}

// A short token TTL makes tokens expire mid-run: the client refreshes and
// every campaign still syncs.
func TestRunAcrossTokenExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newPlatform(t, adplatformtest.Options{TokenTTL: 400 * time.Millisecond, Campaigns: 60})
		client := newClient(t, srv)
		st := memory.New()
		rep := run(t, newSyncer(t, client, st, syncer.Options{}))
		checkAllSynced(t, rep, srv, st, "acct", 60)
		if rep.TokenRefreshes < 2 {
			t.Errorf("%d token refreshes over a %v run with 400ms tokens", rep.TokenRefreshes, rep.Duration)
		}
	})
}

// When the platform's limit is tighter than the client believes, 429s come:
// they are waited out, whatever form the wait takes, and fail nothing.
func TestRunThrough429s(t *testing.T) {
	t.Parallel()
	modes := map[string]adplatformtest.RetryAfterMode{
		"body only": adplatformtest.RetryAfterNone,
		"seconds":   adplatformtest.RetryAfterSeconds,
		"http-date": adplatformtest.RetryAfterHTTPDate,
	}
	for name, mode := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := newPlatform(t, adplatformtest.Options{Campaigns: 12, RateLimit: 4, RateWindow: 250 * time.Millisecond, RetryAfter: mode})
				client := newClient(t, srv, func(o *adplatform.Options) { o.RateLimit, o.RateWindow = 20, 250*time.Millisecond })
				st := memory.New()
				rep := run(t, newSyncer(t, client, st, syncer.Options{}))
				if rep.Synced != 12 || rep.Failed != 0 {
					t.Fatalf("synced %d failed %d (%v), want all 12 synced", rep.Synced, rep.Failed, rep.Failures)
				}
				if rep.HTTP429 == 0 {
					t.Fatal("no 429 received: the test did not exercise them")
				}
			})
		})
	}
}

// A malformed record is isolated and reported; the raw record is kept as a
// dead letter byte for byte; every other campaign syncs.
func TestRunMalformedRecords(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		badName := `{"id":"campaign_4","name":5,"status":"active","budget":1,"impressions":1,"clicks":1,"conversions":1}`
		noID := `{"name":"nameless","status":"active","budget":1,"impressions":1,"clicks":1,"conversions":1}`
		srv := newPlatform(t, adplatformtest.Options{Campaigns: 20, RawRecords: map[int]json.RawMessage{3: json.RawMessage(badName), 7: json.RawMessage(noID)}})
		st := memory.New()
		rep := run(t, newSyncer(t, newClient(t, srv), st, syncer.Options{}))
		if rep.Seen != 20 || rep.Synced != 18 || rep.Failed != 2 {
			t.Fatalf("seen %d synced %d failed %d; want 20, 18, 2", rep.Seen, rep.Synced, rep.Failed)
		}
		var recErr *adplatform.RecordError
		for _, f := range rep.Failures {
			if !errors.As(f.Err, &recErr) {
				t.Errorf("failure %s: %v is not a *adplatform.RecordError", f.CampaignID, f.Err)
			}
		}
		letters, err := st.DeadLetters(context.Background(), "acct", "", 10)
		if err != nil || len(letters) != 2 {
			t.Fatalf("dead letters: %v, %v", letters, err)
		}
		raws := map[string]bool{}
		for _, dl := range letters {
			raws[string(dl.Data)] = true
			if dl.Error == "" {
				t.Errorf("dead letter %s has no error", dl.CampaignID)
			}
		}
		if !raws[badName] || !raws[noID] {
			t.Errorf("dead letters do not keep the raw records: %v", raws)
		}
		if srv.Stats().Syncs["campaign_4"].Calls != 0 {
			t.Error("a record that could not be decoded was synced")
		}
	})
}

// A record the store rejects (a NUL byte) is isolated and reported; the
// rest of its batch lands.
func TestRunStoreRejectsRecords(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		campaigns := []adplatform.Campaign{
			{ID: "ok-1", Name: "fine", Status: "active", Budget: "1"},
			{ID: "nul", Name: "bad\x00name", Status: "active", Budget: "2"},
			{ID: "ok-2", Name: "'); DROP TABLE campaigns;--", Status: "active", Budget: "3.10"},
		}
		srv := newPlatform(t, adplatformtest.Options{CampaignList: campaigns})
		st := memory.New()
		rep := run(t, newSyncer(t, newClient(t, srv), st, syncer.Options{}))
		if rep.Synced != 2 || rep.Failed != 1 || rep.Failures[0].CampaignID != "nul" {
			t.Fatalf("synced %d failed %d %v; want the NUL record alone to fail", rep.Synced, rep.Failed, rep.Failures)
		}
		var recErr *store.RecordError
		if !errors.As(rep.Failures[0].Err, &recErr) || recErr.Field != "name" {
			t.Errorf("failure %v: want a *store.RecordError on name", rep.Failures[0].Err)
		}
		if c, err := st.Get(context.Background(), "acct", "ok-2"); err != nil || c.Name != campaigns[2].Name || c.Budget != "3.10" {
			t.Errorf("ok-2 stored as %+v, %v", c, err)
		}
		letters, _ := st.DeadLetters(context.Background(), "acct", "", 10)
		if len(letters) != 1 || !strings.Contains(string(letters[0].Data), `bad\u0000name`) {
			t.Errorf("dead letter does not keep the listed record: %+v", letters)
		}
	})
}

// Campaigns whose sync keeps failing become dead letters; RetryFailed
// syncs just those once the platform recovers, and resolves them.
func TestDeadLettersAndRetryFailed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := memory.New()
		broken := newPlatform(t, adplatformtest.Options{Campaigns: 10, SyncErrors: map[string]int{"campaign_5": 500, "campaign_6": 422}})
		rep := run(t, newSyncer(t, newClient(t, broken), st, syncer.Options{}))
		if rep.Synced != 8 || rep.Failed != 2 {
			t.Fatalf("synced %d failed %d; want 8 and 2", rep.Synced, rep.Failed)
		}
		var apiErr *adplatform.APIError
		for _, f := range rep.Failures {
			if !errors.As(f.Err, &apiErr) {
				t.Errorf("%s: %v is not an *adplatform.APIError", f.CampaignID, f.Err)
			}
		}
		if calls := broken.Stats().Syncs["campaign_6"].Calls; calls != 1 {
			t.Errorf("a 422 was retried: %d calls", calls)
		}
		if calls := broken.Stats().Syncs["campaign_5"].Calls; calls < 2 {
			t.Errorf("a 500 was not retried: %d calls", calls)
		}
		if c, _ := st.Get(context.Background(), "acct", "campaign_5"); !c.SyncedAt.IsZero() || c.Name != "Campaign 5" {
			t.Errorf("failed campaign stored as %+v: want its listed data without SyncedAt", c)
		}

		healed := newPlatform(t, adplatformtest.Options{Campaigns: 10})
		retry, err := newSyncer(t, newClient(t, healed), st, syncer.Options{}).RetryFailed(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !retry.Retry || retry.Seen != 2 || retry.Synced != 2 || retry.Failed != 0 {
			t.Fatalf("RetryFailed: %+v", retry)
		}
		if n := healed.Stats().Endpoints[adplatform.EndpointList].Requests; n != 0 {
			t.Errorf("RetryFailed listed the account (%d requests)", n)
		}
		for _, id := range []string{"campaign_5", "campaign_6"} {
			if c, _ := st.Get(context.Background(), "acct", id); c.SyncedAt.IsZero() {
				t.Errorf("%s not synced after RetryFailed", id)
			}
		}
		if letters, _ := st.DeadLetters(context.Background(), "acct", "", 10); len(letters) != 0 {
			t.Errorf("dead letters left: %+v", letters)
		}
	})
}

// Running twice is safe: the second run starts afresh (the first completed)
// and leaves the same rows.
func TestRunTwiceIsIdempotent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		list := scriptedCampaigns(30)
		srv := newPlatform(t, adplatformtest.Options{CampaignList: list})
		st := memory.New()
		s := newSyncer(t, newClient(t, srv), st, syncer.Options{})
		first := run(t, s)
		before, _ := st.Get(context.Background(), "acct", "campaign_3")
		second := run(t, s)
		after, _ := st.Get(context.Background(), "acct", "campaign_3")
		if second.Resumed || second.Skipped != 0 || second.Synced != 30 || first.RunID == second.RunID {
			t.Fatalf("second run: %+v; want a fresh run syncing all 30", second)
		}
		if !store.SameContent(before, after) || !after.UpdatedAt.Equal(before.UpdatedAt) || !after.SyncedAt.After(before.SyncedAt) {
			t.Errorf("second run changed the row: %+v then %+v", before, after)
		}
	})
}

// Two syncers, one per account, share one store at the same time.
func TestTwoAccountsShareAStore(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := memory.New()
		srvA := newPlatform(t, adplatformtest.Options{Campaigns: 30})
		srvB := newPlatform(t, adplatformtest.Options{CampaignList: scriptedCampaigns(20)})
		a := newSyncer(t, newClient(t, srvA, func(o *adplatform.Options) { o.ClientID = "client-a" }), st, syncer.Options{AccountID: "a"})
		b := newSyncer(t, newClient(t, srvB, func(o *adplatform.Options) { o.ClientID = "client-b" }), st, syncer.Options{AccountID: "b"})
		reports := make(chan syncer.Report, 2)
		for _, s := range []*syncer.Syncer{a, b} {
			go func() {
				rep, err := s.Run(context.Background())
				if err != nil {
					t.Error(err)
				}
				reports <- rep
			}()
		}
		byAccount := map[string]syncer.Report{}
		for range 2 {
			rep := <-reports
			byAccount[rep.AccountID] = rep
		}
		checkAllSynced(t, byAccount["a"], srvA, st, "a", 30)
		checkAllSynced(t, byAccount["b"], srvB, st, "b", 20)
		ca, _ := st.Get(context.Background(), "a", "campaign_1")
		cb, _ := st.Get(context.Background(), "b", "campaign_1")
		if ca.Budget == cb.Budget {
			t.Errorf("accounts see each other: a %+v, b %+v", ca, cb)
		}
	})
}

// Listing streams into syncing: the first sync call goes out before the
// last page is listed.
func TestListingStreamsIntoSyncing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newPlatform(t, adplatformtest.Options{HonestPagination: true, FailEveryNthList: -1, ListLatency: 20 * time.Millisecond, Campaigns: 50, RateLimit: -1, RateWindow: testWindow})
		client := newClient(t, srv, func(o *adplatform.Options) { o.PageSize = 10; o.RateLimit = 1000 })
		run(t, newSyncer(t, client, memory.New(), syncer.Options{}))
		var firstSync, lastList time.Time
		for _, r := range srv.Requests() {
			switch r.Endpoint {
			case adplatform.EndpointSync:
				if firstSync.IsZero() || r.Time.Before(firstSync) {
					firstSync = r.Time
				}
			case adplatform.EndpointList:
				if r.Time.After(lastList) {
					lastList = r.Time
				}
			}
		}
		if !firstSync.Before(lastList) {
			t.Errorf("first sync at %v, last list at %v: syncing waited for the listing", firstSync, lastList)
		}
	})
}

// A store of one's own, with only Upsert and Get, works through
// memory.WithBookkeeping: failures are dead letters, RetryFailed retries
// them, and SkipSyncedWithin asks the store when each campaign synced.
func TestStoreOfYourOwnWithBookkeeping(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newPlatform(t, adplatformtest.Options{Campaigns: 15, SyncErrors: map[string]int{"campaign_2": 404}})
		mem := memory.New()
		st := memory.WithBookkeeping(upsertOnly{mem})
		rep := run(t, newSyncer(t, newClient(t, srv), st, syncer.Options{}))
		if rep.Synced != 14 || rep.Failed != 1 || rep.Failures[0].CampaignID != "campaign_2" {
			t.Fatalf("%+v", rep)
		}
		if c, err := mem.Get(context.Background(), "acct", "campaign_1"); err != nil || c.SyncedAt.IsZero() {
			t.Fatalf("campaign_1 in the user's store: %+v, %v", c, err)
		}
		healed := newPlatform(t, adplatformtest.Options{Campaigns: 15})
		retry, err := newSyncer(t, newClient(t, healed), st, syncer.Options{}).RetryFailed(context.Background())
		if err != nil || retry.Synced != 1 {
			t.Errorf("RetryFailed: %+v, %v; want campaign_2 synced", retry, err)
		}
		again := run(t, newSyncer(t, newClient(t, healed), st, syncer.Options{SkipSyncedWithin: time.Hour}))
		if again.Skipped != 15 || again.Synced != 0 {
			t.Errorf("with SkipSyncedWithin: %+v; want all 15 skipped", again)
		}
	})
}

// SkipSyncedWithin skips campaigns synced recently, without calling sync.
func TestSkipSyncedWithin(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newPlatform(t, adplatformtest.Options{Campaigns: 20})
		st := memory.New()
		run(t, newSyncer(t, newClient(t, srv), st, syncer.Options{}))
		rep := run(t, newSyncer(t, newClient(t, srv), st, syncer.Options{SkipSyncedWithin: time.Hour}))
		if rep.Skipped != 20 || rep.Synced != 0 || rep.Seen != 20 {
			t.Fatalf("%+v: want all 20 skipped", rep)
		}
		if calls := srv.Stats().Syncs["campaign_1"].Calls; calls != 1 {
			t.Errorf("campaign_1 synced %d times", calls)
		}
	})
}

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	p, st := &scriptedPlatform{}, memory.New()
	for _, tc := range []struct {
		opts  syncer.Options
		field string
	}{
		{syncer.Options{}, "AccountID"},
		{syncer.Options{AccountID: "bad\x00id"}, "AccountID"},
		{syncer.Options{AccountID: "a", Concurrency: -1}, "Concurrency"},
		{syncer.Options{AccountID: "a", Concurrency: 1 << 20}, "Concurrency"},
		{syncer.Options{AccountID: "a", BatchSize: -5}, "BatchSize"},
		{syncer.Options{AccountID: "a", FlushInterval: -time.Second}, "FlushInterval"},
		{syncer.Options{AccountID: "a", GracePeriod: -1}, "GracePeriod"},
		{syncer.Options{AccountID: "a", SkipSyncedWithin: -1}, "SkipSyncedWithin"},
		{syncer.Options{AccountID: "a", StoreAttemptTimeout: -1}, "StoreAttemptTimeout"},
		{syncer.Options{AccountID: "a", StoreRetryBudget: -time.Second}, "StoreRetryBudget"},
	} {
		_, err := syncer.New(p, st, tc.opts)
		var oe *syncer.OptionError
		if !errors.As(err, &oe) || oe.Field != tc.field || !strings.Contains(err.Error(), "Options."+tc.field) {
			t.Errorf("New(%+v) = %v; want an *OptionError naming Options.%s", tc.opts, err, tc.field)
		}
	}
	if _, err := syncer.New(nil, st, syncer.Options{AccountID: "a"}); err == nil {
		t.Error("nil platform accepted")
	}
	if _, err := syncer.New(p, nil, syncer.Options{AccountID: "a"}); err == nil {
		t.Error("nil store accepted")
	}
}

// Refused credentials are an error: the run could not run.
func TestRunWithWrongCredentials(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newPlatform(t, adplatformtest.Options{})
		client, err := adplatform.New("http://platform.invalid", adplatform.StaticCredentials(adplatformtest.DefaultEmail, "wrong-password"),
			adplatform.Options{Transport: handlerTransport{srv}})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := newSyncer(t, client, memory.New(), syncer.Options{}).Run(context.Background())
		var authErr *adplatform.AuthError
		if !errors.As(err, &authErr) {
			t.Fatalf("Run: %v; want an *adplatform.AuthError", err)
		}
		if rep.Status != syncer.StatusFailed || rep.Err != err || rep.Synced != 0 {
			t.Errorf("report %+v", rep)
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Errorf("error echoes the password: %v", err)
		}
	})
}

// A store that is down stops the run with an error wrapping ErrUnavailable;
// nothing is counted synced that was not stored.
func TestRunWithStoreDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &scriptedPlatform{campaigns: scriptedCampaigns(5)}
		s := newSyncer(t, p, memory.WithBookkeeping(downStore{}), syncer.Options{StoreRetryBudget: 100 * time.Millisecond})
		rep, err := s.Run(context.Background())
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Run: %v; want store.ErrUnavailable", err)
		}
		if rep.Synced != 0 || rep.Status != syncer.StatusInterrupted {
			t.Errorf("report %+v: nothing can have synced", rep)
		}
	})
}

type downStore struct{}

func (downStore) Upsert(context.Context, string, []store.Campaign) error {
	return errors.Join(store.ErrUnavailable, errors.New("connection refused"))
}

func (downStore) Get(context.Context, string, string) (store.Campaign, error) {
	return store.Campaign{}, errors.Join(store.ErrUnavailable, errors.New("connection refused"))
}

// A listing that fails part way is an error, and the run is resumable.
func TestRunWhenListingFailsPartWay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := memory.New()
		listErr := &adplatform.APIError{Endpoint: adplatform.EndpointList, StatusCode: 503, Attempts: 5}
		p := &scriptedPlatform{campaigns: scriptedCampaigns(5), listErr: listErr}
		rep, err := newSyncer(t, p, st, syncer.Options{}).Run(context.Background())
		if !errors.Is(err, listErr) {
			t.Fatalf("Run: %v; want the listing error", err)
		}
		if rep.Synced != 5 || rep.Status != syncer.StatusInterrupted {
			t.Errorf("report %+v: the 5 listed should sync, and the run be interrupted", rep)
		}
		p.campaigns, p.listErr = scriptedCampaigns(8), nil
		again := run(t, newSyncer(t, p, st, syncer.Options{}))
		if !again.Resumed || again.Skipped != 5 || again.Synced != 3 {
			t.Errorf("next run %+v: want it resumed, 5 skipped, 3 synced", again)
		}
	})
}

// A platform asking to wait longer than the client allows stops the run
// with the RateLimitError, and fails no campaign.
func TestRunWhenPlatformAsksToWaitTooLong(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		limitErr := &adplatform.RateLimitError{Endpoint: adplatform.EndpointSync, RetryAfter: 24 * time.Hour}
		p := &scriptedPlatform{campaigns: scriptedCampaigns(3), sync: func(context.Context, string) (adplatform.SyncResult, error) {
			return adplatform.SyncResult{}, limitErr
		}}
		rep, err := newSyncer(t, p, memory.New(), syncer.Options{Concurrency: 1}).Run(context.Background())
		var got *adplatform.RateLimitError
		if !errors.As(err, &got) || got.RetryAfter != 24*time.Hour {
			t.Fatalf("Run: %v; want the RateLimitError", err)
		}
		if rep.Failed != 0 || rep.Status != syncer.StatusInterrupted {
			t.Errorf("report %+v: a 429 is never a failure of the campaign", rep)
		}
	})
}

// Observer events and Progress.
func TestObserverAndProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newPlatform(t, adplatformtest.Options{Campaigns: 25, SyncErrors: map[string]int{"campaign_9": 404}})
		rec := &recorder{}
		s := newSyncer(t, newClient(t, srv), memory.New(), syncer.Options{Observer: rec})
		rep := run(t, s)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if rec.started != 1 || rec.finished != 1 || rec.pages != 1 || len(rec.synced) != 24 || len(rec.failed) != 1 {
			t.Errorf("events: started %d finished %d pages %d synced %d failed %d",
				rec.started, rec.finished, rec.pages, len(rec.synced), len(rec.failed))
		}
		p := s.Progress()
		if p.Running || p.RunID != rep.RunID || p.Total != 25 || p.Seen != 25 || p.Synced != 24 || p.Failed != 1 || p.InFlight != 0 {
			t.Errorf("progress after the run: %+v", p)
		}
	})
}

// No password, Basic header, base64 of the credentials or token appears in
// any log line of a run that meets expiry, faults and failures.
func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := newPlatform(t, adplatformtest.Options{Campaigns: 30, TokenTTL: 300 * time.Millisecond, SyncErrors: map[string]int{"campaign_3": 400}, Faults: adplatformtest.Faults{Unavailable: 0.1, BadGateway: 0.1, Malformed: 0.1, Seed: 7}})
		var logs logBuffer
		client := newClient(t, srv, func(o *adplatform.Options) { o.Logger = logs.logger() })
		rep := run(t, newSyncer(t, client, memory.New(), syncer.Options{Logger: logs.logger()}))
		text := logs.String() + fmt.Sprintf("%+v", rep)
		for _, f := range rep.Failures {
			text += f.Err.Error()
		}
		basic := base64.StdEncoding.EncodeToString([]byte(adplatformtest.DefaultEmail + ":" + adplatformtest.DefaultPassword))
		secrets := append([]string{adplatformtest.DefaultPassword, basic}, srv.Tokens()...)
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("a secret (%.4s…) appears in the logs or the report", secret)
			}
		}
		if !strings.Contains(logs.String(), `"run_id":"`+rep.RunID+`"`) || len(srv.Tokens()) < 2 {
			t.Fatalf("the test saw too little: %d tokens, logs:\n%.2000s", len(srv.Tokens()), logs.String())
		}
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if strings.Contains(line, `"msg":"run `) && !strings.Contains(line, `"account":"acct"`) {
				t.Errorf("a syncer line without the account: %s", line)
			}
		}
	})
}
