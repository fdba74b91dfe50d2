package syncer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
)

// A campaign listed twice (offsets shifting under inserts put it on the
// next page again, or the platform repeats it on a page) is synced once,
// and stored with its later copy's content, whether that copy arrives
// before the first copy's sync call returns or after it was stored. A
// later copy that cannot be decoded is left out.
func TestListingDuplicates(t *testing.T) {
	t.Parallel()
	// 20 campaigns listed 10 a page; the records at positions 5 and 12
	// repeat campaign_2 (on its page, and on the next) with new numbers,
	// the one at 16 repeats campaign_13 broken.
	copyOf := func(id string, impressions int) json.RawMessage {
		return json.RawMessage(`{"id":"` + id + `","name":"Renamed","status":"paused","budget":5,"impressions":` +
			itoa(impressions) + `,"clicks":1,"conversions":1}`)
	}
	for _, tc := range []struct {
		name        string
		listLatency time.Duration
		raw         map[int]json.RawMessage
		want        map[string]int64 // id → impressions stored
		intact      string           // a campaign stored as its first copy
	}{
		{"copy on the same page", 0, map[int]json.RawMessage{5: copyOf("campaign_2", 500)}, map[string]int64{"campaign_2": 500}, "campaign_3"},
		{"copy on the next page, before the first is stored", 0, map[int]json.RawMessage{12: copyOf("campaign_2", 500)}, map[string]int64{"campaign_2": 500}, "campaign_3"},
		{"copy on the next page, after the first is stored", 3 * time.Second, map[int]json.RawMessage{12: copyOf("campaign_2", 500)}, map[string]int64{"campaign_2": 500}, "campaign_3"},
		{"two copies: the last wins", 0, map[int]json.RawMessage{5: copyOf("campaign_2", 500), 12: copyOf("campaign_2", 700)}, map[string]int64{"campaign_2": 700}, "campaign_3"},
		{"a broken copy is left out", 0, map[int]json.RawMessage{16: json.RawMessage(`{"id":"campaign_13","name":5}`)}, nil, "campaign_13"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 20, RawRecords: tc.raw, HonestPagination: true,
					FailEveryNthList: -1, ListLatency: tc.listLatency, SyncLatency: time.Second, RateLimit: -1})
				client := virtualClient(t, platform, 1000, time.Second, func(o *adplatform.Options) { o.PageSize = 10 })
				st := newFaultyStore()
				rep := run(t, newSyncer(t, client, st, syncer.Options{}))
				distinct := 20 - len(tc.raw)
				if rep.Seen != distinct || rep.Synced != distinct || rep.Failed != 0 {
					t.Errorf("report: seen %d, synced %d, failed %d (%v); want %d seen and synced", rep.Seen, rep.Synced, rep.Failed, rep.Failures, distinct)
				}
				stats := platform.Stats()
				for id, impressions := range tc.want {
					if calls := stats.Syncs[id].Calls; calls != 1 {
						t.Errorf("%s: %d sync calls, want 1", id, calls)
					}
					c, err := st.Get(context.Background(), "acct", id)
					if err != nil || c.Impressions != impressions || c.Name != "Renamed" || c.SyncedAt.IsZero() {
						t.Errorf("%s stored as %+v (%v); want the last copy's content (impressions %d), synced", id, c, err, impressions)
					}
				}
				if c, err := st.Get(context.Background(), "acct", tc.intact); err != nil || c.Name == "Renamed" || c.SyncedAt.IsZero() {
					t.Errorf("%s stored as %+v (%v); want its first copy, synced", tc.intact, c, err)
				}
				if letters, _ := st.DeadLetters(context.Background(), "acct", "", 10); len(letters) != 0 {
					t.Errorf("dead letters %+v; want none", letters)
				}
			})
		})
	}
}

// Each row carries the time its page arrived as its ListedAt.
func TestRowsCarryWhenTheirPageArrived(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 20, HonestPagination: true, FailEveryNthList: -1,
			ListLatency: 3 * time.Second, SyncLatency: time.Second, RateLimit: -1})
		client := virtualClient(t, platform, 1000, time.Second, func(o *adplatform.Options) { o.PageSize = 10 })
		st := newFaultyStore()
		start := time.Now()
		run(t, newSyncer(t, client, st, syncer.Options{}))
		listed := func(id string) time.Time {
			c, err := st.Get(context.Background(), "acct", id)
			if err != nil {
				t.Fatal(err)
			}
			return c.ListedAt
		}
		// The first page arrives after one list call, the second after
		// another: 3 s each.
		first, second := start.Add(3*time.Second).UTC(), start.Add(6*time.Second).UTC()
		for i := 1; i <= 20; i++ {
			want := first
			if i > 10 {
				want = second
			}
			if got := listed(campaignID(i)); !got.Equal(want) {
				t.Errorf("%s listed at %s; want %s, when its page arrived", campaignID(i), got, want)
			}
		}
	})
}

// An unfinished run started longer ago than MaxResumeAge is not resumed:
// a fresh run starts, and the report and the log say why.
func TestMaxResumeAge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		maxAge  time.Duration
		resumed bool
	}{
		{"default, a day", 0, false},
		{"two days", 48 * time.Hour, true},
		{"no limit", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				platform := virtualPlatform(t, adplatformtest.Options{Campaigns: 30, RateLimit: 10, RateWindow: time.Second, SyncLatency: 100 * time.Millisecond})
				client := virtualClient(t, platform, 10, time.Second)
				st := newFaultyStore()
				ctx, cancel := context.WithCancel(context.Background())
				rec := &recorder{onSynced: func(n int) {
					if n == 10 {
						cancel()
					}
				}}
				first, err := newSyncer(t, client, st, syncer.Options{Observer: rec}).Run(ctx)
				if err != nil || first.Status != syncer.StatusInterrupted {
					t.Fatalf("first run: %v, %+v; want it interrupted", err, first)
				}

				time.Sleep(25 * time.Hour)
				var logs logBuffer
				second := run(t, newSyncer(t, client, st, syncer.Options{MaxResumeAge: tc.maxAge, Logger: logs.logger()}))
				if second.Resumed != tc.resumed || (second.RunID == first.RunID) != tc.resumed {
					t.Fatalf("second run: resumed %v (run %s after %s); want resumed %v", second.Resumed, second.RunID, first.RunID, tc.resumed)
				}
				if tc.resumed {
					if second.Note != "" || second.Skipped != first.Synced {
						t.Errorf("resumed run: note %q, skipped %d; want no note, %d skipped", second.Note, second.Skipped, first.Synced)
					}
					return
				}
				if second.Note == "" || second.Synced != 30 {
					t.Errorf("fresh run: note %q, synced %d; want a note, all 30 synced", second.Note, second.Synced)
				}
				if !strings.Contains(logs.String(), "MaxResumeAge") {
					t.Errorf("the log does not say why the run was not resumed:\n%s", logs.String())
				}
				runs, _ := st.Runs(context.Background(), "acct", store.RunQuery{})
				if len(runs) != 2 || runs[1].Status != store.RunInterrupted {
					t.Errorf("runs %+v; want the old run interrupted, and a new one", runs)
				}
			})
		})
	}
}
