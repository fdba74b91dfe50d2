package riversync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/adsync/adsync/adplatform/adplatformtest"
	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer"
	"github.com/adsync/adsync/syncer/riversync"
)

func TestOneJobPerAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adplatformtest.Options{})
	w := newWorker(t, newFactory(e, "acme", "globex"), riversync.Options{})
	client := newClient(t, e, w, false) // insert only: nothing works the jobs

	if n := enqueue(t, client, "acme", "globex", "acme"); n != 2 {
		t.Errorf("first Enqueue inserted %d jobs, want 2", n)
	}
	if n := enqueue(t, client, "acme", "globex"); n != 0 {
		t.Errorf("second Enqueue inserted %d jobs, want 0: each account has one", n)
	}
	for _, a := range []string{"acme", "globex"} {
		if j := job(t, client, a); j.State != rivertype.JobStateAvailable {
			t.Errorf("%s: job state %s, want available", a, j.State)
		}
	}
	if _, err := riversync.Enqueue(context.Background(), client, "ok", ""); err == nil {
		t.Error("Enqueue of an empty account id: no error")
	}
	if js := jobs(t, client, "ok"); len(js) != 0 {
		t.Errorf("a refused Enqueue inserted %d jobs", len(js))
	}
}

func TestFinishedAccountCanBeQueuedAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adplatformtest.Options{})
	f := newFactory(e, "acme")
	client := newClient(t, e, newWorker(t, f, riversync.Options{}), true)

	enqueue(t, client, "acme")
	eventually(t, "the job to complete", func() bool { return job(t, client, "acme").State == rivertype.JobStateCompleted })
	if _, err := e.st.LastCompletedRun(context.Background(), "acme"); err != nil {
		t.Fatalf("LastCompletedRun: %v", err)
	}
	if n := enqueue(t, client, "acme"); n != 1 {
		t.Fatalf("Enqueue after completion inserted %d jobs, want 1", n)
	}
	eventually(t, "the second job to complete", func() bool {
		js := jobs(t, client, "acme")
		return len(js) == 2 && js[1].State == rivertype.JobStateCompleted
	})
	runs, err := e.st.Runs(context.Background(), "acme", store.RunQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Errorf("%d runs, want 2", len(runs))
	}
	if n := f.madeFor("acme"); n != 1 {
		t.Errorf("the factory made %d Syncers for the account, want 1: one per account per process", n)
	}
}

func TestBusyAccountSnoozes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adplatformtest.Options{})
	client := newClient(t, e, newWorker(t, newFactory(e, "acme"), riversync.Options{BusyRetry: 50 * time.Millisecond}), true)

	// Another holder: an operator's command, another service.
	lease, err := e.st.Acquire(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, client, "acme")
	eventually(t, "the job to snooze a few times", func() bool { return snoozes(job(t, client, "acme")) >= 3 })
	j := job(t, client, "acme")
	if len(j.Errors) != 0 || j.State == rivertype.JobStateRetryable || j.State == rivertype.JobStateDiscarded {
		t.Errorf("busy account: job %s with errors %v, want snoozed, no error", j.State, j.Errors)
	}
	if j.Attempt > 1 {
		t.Errorf("busy account: attempt %d: snoozing burnt attempts", j.Attempt)
	}
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the job to complete once the account is free", func() bool { return job(t, client, "acme").State == rivertype.JobStateCompleted })
}

func snoozes(j *rivertype.JobRow) int {
	var n int
	// metadata is River's JSON; "snoozes" counts them.
	s := string(j.Metadata)
	if i := strings.Index(s, `"snoozes": `); i >= 0 {
		for _, c := range s[i+len(`"snoozes": `):] {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
	}
	return n
}

func TestScheduleRunsAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adplatformtest.Options{})
	client := newClient(t, e, newWorker(t, newFactory(e, "acme"), riversync.Options{Every: 100 * time.Millisecond}), true)

	enqueue(t, client, "acme")
	eventually(t, "three completed runs", func() bool {
		runs, err := e.st.Runs(context.Background(), "acme", store.RunQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range runs {
			if r.Status == store.RunCompleted {
				n++
			}
		}
		return n >= 3
	})
	j := job(t, client, "acme")
	if j.State == rivertype.JobStateCompleted || len(j.Errors) != 0 {
		t.Errorf("scheduled account: job %s, errors %v; want it waiting for its next run, no error", j.State, j.Errors)
	}
	if n := enqueue(t, client, "acme"); n != 0 {
		t.Errorf("Enqueue of a scheduled account inserted %d jobs, want 0", n)
	}
}

func TestRemovedAccountIsCancelled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adplatformtest.Options{})
	f := newFactory(e, "acme")
	client := newClient(t, e, newWorker(t, f, riversync.Options{Every: 50 * time.Millisecond}), true)

	enqueue(t, client, "acme", "gone")
	eventually(t, "the removed account's job to be cancelled", func() bool { return job(t, client, "gone").State == rivertype.JobStateCancelled })
	if n := f.madeFor("gone"); n != 0 {
		t.Errorf("the factory was asked %d times for a Syncer of a removed account", n)
	}
	j := job(t, client, "gone")
	if len(j.Errors) == 0 || !strings.Contains(j.Errors[len(j.Errors)-1].Error, riversync.ErrUnknownAccount.Error()) {
		t.Errorf("cancelled job's errors %v, want one saying %q", j.Errors, riversync.ErrUnknownAccount)
	}

	// Removing a scheduled account stops it at its next job.
	eventually(t, "acme to have run", func() bool { _, err := e.st.LastCompletedRun(context.Background(), "acme"); return err == nil })
	f.mu.Lock()
	delete(f.active, "acme")
	f.mu.Unlock()
	eventually(t, "acme's job to be cancelled", func() bool { return job(t, client, "acme").State == rivertype.JobStateCancelled })
}

func TestRateLimitUntilSnoozesAndSendsNothing(t *testing.T) {
	t.Parallel()
	// The platform allows 2 requests an hour and says so in Retry-After;
	// the client believes in 100 a second and sits through no wait
	// longer than a second: the third request earns a 429 that closes the
	// client for an hour.
	e := newEnv(t, adplatformtest.Options{RateLimit: 2, RateWindow: time.Hour, RetryAfter: adplatformtest.RetryAfterSeconds})
	f := newFactory(e, "acme")
	f.clientOpts.RateLimit, f.clientOpts.RateWindow, f.clientOpts.MaxRateLimitWait = 100, time.Second, time.Second
	client := newClient(t, e, newWorker(t, f, riversync.Options{}), true)

	enqueue(t, client, "acme")
	eventually(t, "the job to snooze", func() bool { return snoozes(job(t, client, "acme")) >= 1 })
	j := job(t, client, "acme")
	if j.State != rivertype.JobStateScheduled || len(j.Errors) != 0 || j.Attempt != 0 {
		t.Fatalf("job %s, attempt %d, errors %v; want scheduled, attempt 0, no error", j.State, j.Attempt, j.Errors)
	}
	if wait := time.Until(j.ScheduledAt); wait < 50*time.Minute || wait > 61*time.Minute {
		t.Errorf("job scheduled in %s, want about an hour: when the platform takes requests again", wait)
	}
	sent, limited := len(e.fake.Platform.Requests()), e.fake.Platform.Stats().RateLimited
	if err := client.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Another process (a Worker and Syncers of its own) forced to run the
	// job now sends nothing: it knows the platform's wait from the store.
	f2 := newFactory(e, "acme")
	f2.clientOpts = f.clientOpts
	client2 := newClient(t, e, newWorker(t, f2, riversync.Options{}), true)
	if _, err := client2.JobRetry(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the job to snooze again", func() bool { return snoozes(job(t, client2, "acme")) >= 2 })
	j = job(t, client2, "acme")
	if wait := time.Until(j.ScheduledAt); wait < 50*time.Minute {
		t.Errorf("job rescheduled in %s, want about an hour", wait)
	}
	if got := len(e.fake.Platform.Requests()); got != sent {
		t.Errorf("the platform got %d requests after it asked to wait, want none", got-sent)
	}
	// The sync calls in flight when the first 429 came may have earned one
	// each; none after.
	if got := e.fake.Platform.Stats().RateLimited; got != limited {
		t.Errorf("%d 429s after the job snoozed, want none", got-limited)
	}
}

func TestRefusedCredentialsAreAnErrorWithoutTheSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adplatformtest.Options{})
	f := newFactory(e, "bad")
	f.bad["bad"] = true
	client := newClient(t, e, newWorker(t, f, riversync.Options{}), true)

	enqueue(t, client, "bad")
	eventually(t, "the job to fail an attempt", func() bool { return len(job(t, client, "bad").Errors) >= 1 })
	j := job(t, client, "bad")
	if j.State != rivertype.JobStateRetryable && j.State != rivertype.JobStateAvailable && j.State != rivertype.JobStateRunning {
		t.Errorf("job %s, want retryable: River retries with its backoff", j.State)
	}
	if got := j.Errors[0].Error; !strings.Contains(got, "credentials") && !strings.Contains(got, "401") {
		t.Errorf("job error %q does not say the credentials were refused", got)
	}
	// No secret anywhere in River's rows: args, metadata, errors.
	var rows string
	if err := e.db.QueryRow(`SELECT string_agg(args::text || metadata::text || array_to_string(errors, ' '), ' ') FROM river_job`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{wrongPassword, adplatformtest.DefaultPassword} {
		if strings.Contains(rows, secret) {
			t.Errorf("river_job holds the password %q: %s", secret, rows)
		}
	}
	if strings.Contains(rows, "Basic ") || strings.Contains(rows, "Bearer ") {
		t.Errorf("river_job holds an Authorization header: %s", rows)
	}
}

func TestNewWorkerNamesTheBadOption(t *testing.T) {
	t.Parallel()
	f := newFactory(nil)
	for field, opts := range map[string]riversync.Options{
		"Every":         {Every: -1},
		"BusyRetry":     {BusyRetry: -1},
		"RetryInterval": {RetryInterval: -1},
		"Timeout":       {Timeout: -1},
		"GracePeriod":   {GracePeriod: -1},
	} {
		_, err := riversync.NewWorker(f, opts)
		if err == nil || !strings.Contains(err.Error(), "Options."+field) {
			t.Errorf("%s negative: error %v, want one naming Options.%s", field, err, field)
		}
	}
	if _, err := riversync.NewWorker(nil, riversync.Options{}); err == nil {
		t.Error("NewWorker(nil): no error")
	}
	w, err := riversync.NewWorker(f, riversync.Options{Timeout: time.Minute, GracePeriod: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.RescueStuckJobsAfter(); got != 70*time.Second {
		t.Errorf("RescueStuckJobsAfter %s, want Timeout + 2×GracePeriod = 70s", got)
	}
}

// Example runs against the test database, in a schema of its own.
func TestExample(t *testing.T) {
	t.Setenv("DATABASE_URL", shortSchema(t))
	out := captureStdout(t, Example)
	want := "acme: completed, 20 campaigns synced\nglobex: completed, 20 campaigns synced\n"
	if out != want {
		t.Errorf("Example printed\n%s\nwant\n%s", out, want)
	}
}

func TestSyncNowRunsAScheduledAccountAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adplatformtest.Options{})
	client := newClient(t, e, newWorker(t, newFactory(e, "acme", "globex", "initech"), riversync.Options{Every: time.Hour}), true)

	enqueue(t, client, "acme", "globex")
	eventually(t, "both jobs to wait an hour", func() bool {
		return job(t, client, "acme").State == rivertype.JobStateScheduled && job(t, client, "globex").State == rivertype.JobStateScheduled
	})
	if err := riversync.SyncNow(context.Background(), client, "acme", "initech"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "acme and initech to run", func() bool {
		runs, err := e.st.Runs(context.Background(), "acme", store.RunQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.st.LastCompletedRun(context.Background(), "initech")
		return len(runs) == 2 && runs[0].Status == store.RunCompleted && err == nil
	})
	if runs, err := e.st.Runs(context.Background(), "globex", store.RunQuery{Limit: 10}); err != nil || len(runs) != 1 {
		t.Errorf("globex: %d runs (%v), want 1: SyncNow was not asked for it", len(runs), err)
	}
}

func TestTimeoutStopsTheRunWhichResumesAtOnce(t *testing.T) {
	t.Parallel()
	// 40 campaigns at 10 per 200 ms take about 800 ms: a job of 300 ms
	// stops part way, and the next job resumes the run.
	e := newEnv(t, adplatformtest.Options{Campaigns: 40, SyncLatency: 50 * time.Millisecond})
	client := newClient(t, e, newWorker(t, newFactory(e, "acme"), riversync.Options{Timeout: 300 * time.Millisecond, RetryInterval: time.Hour}), true)

	enqueue(t, client, "acme")
	eventually(t, "the job to complete", func() bool { return job(t, client, "acme").State == rivertype.JobStateCompleted })
	j := job(t, client, "acme")
	if snoozes(j) == 0 || len(j.Errors) != 0 {
		t.Errorf("job snoozed %d times, errors %v: want the timeout to snooze it, no error", snoozes(j), j.Errors)
	}
	runs, err := e.st.Runs(context.Background(), "acme", store.RunQuery{Limit: 10})
	if err != nil || len(runs) != 1 || runs[0].Status != store.RunCompleted || runs[0].Synced+runs[0].Skipped < 40 {
		t.Errorf("runs %+v (%v), want one run, resumed until it completed", runs, err)
	}
}

func TestPlatformDownSnoozesRetryIntervalThenResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adplatformtest.Options{})
	if err := e.fake.Platform.SetOutage(adplatformtest.Outage{Status: 503}); err != nil {
		t.Fatal(err)
	}
	f := newFactory(e, "acme")
	f.clientOpts.MaxOutage = 300 * time.Millisecond // the client gives up on the platform soon
	client := newClient(t, e, newWorker(t, f, riversync.Options{RetryInterval: 500 * time.Millisecond}), true)

	enqueue(t, client, "acme")
	eventually(t, "the job to snooze", func() bool { return snoozes(job(t, client, "acme")) >= 1 })
	j := job(t, client, "acme")
	if len(j.Errors) != 0 || j.Attempt > 1 {
		t.Errorf("platform down: attempt %d, errors %v; want a snooze, no attempt spent", j.Attempt, j.Errors)
	}
	runs, err := e.st.Runs(context.Background(), "acme", store.RunQuery{Limit: 10})
	if err != nil || len(runs) == 0 || runs[len(runs)-1].Status != store.RunInterrupted {
		t.Fatalf("runs %+v (%v), want an interrupted one", runs, err)
	}
	if err := e.fake.Platform.SetOutage(adplatformtest.Outage{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the job to complete once the platform is back", func() bool { return job(t, client, "acme").State == rivertype.JobStateCompleted })
	if run, err := e.st.LastCompletedRun(context.Background(), "acme"); err != nil || run.ID != runs[len(runs)-1].ID {
		t.Errorf("last completed run %+v (%v), want the interrupted run %s resumed", run, err, runs[len(runs)-1].ID)
	}
}

// gone is a Factory whose Syncer says the account is unknown, as a service's
// does for an account deleted between Active and Syncer.
type gone struct{ *factory }

func (g gone) Syncer(_ context.Context, id string) (*syncer.Syncer, error) {
	return nil, fmt.Errorf("account %s deleted: %w", id, riversync.ErrUnknownAccount)
}

func TestFactoryUnknownAccountCancels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adplatformtest.Options{})
	client := newClient(t, e, newWorker(t, gone{newFactory(e, "acme")}, riversync.Options{}), true)
	enqueue(t, client, "acme")
	eventually(t, "the job to be cancelled", func() bool { return job(t, client, "acme").State == rivertype.JobStateCancelled })
	if n := len(e.fake.Platform.Requests()); n != 0 {
		t.Errorf("%d requests for an unknown account", n)
	}
}
