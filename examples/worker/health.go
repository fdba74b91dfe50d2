package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/syncer/otelsync"
)

// newTelemetry returns otelsync's Telemetry on a meter provider whose
// reader is the Prometheus exporter, and the handler of /metrics and
// /healthz.
func newTelemetry(cfg config, st store.RunStore) (*otelsync.Telemetry, http.Handler, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	opts := otelsync.Options{MeterProvider: mp, TracerProvider: tracenoop.NewTracerProvider()}
	if cfg.apiURL != "" {
		opts.PlatformURL = cfg.apiURL
	}
	tel, err := otelsync.New(opts)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", &health{st: st, accounts: cfg.accounts, within: cfg.healthyWithin})
	return tel, mux, nil
}

// health is /healthz: 200 when every account has a completed run (failed
// campaigns or not) that finished within the last `within`, 503 otherwise.
// The body says, for each account, when its last completed run finished.
type health struct {
	st       store.RunStore
	accounts []string
	within   time.Duration
}

// healthReport is /healthz's body.
type healthReport struct {
	Status        string          `json:"status"` // "ok" or "unhealthy"
	HealthyWithin string          `json:"healthy_within"`
	Accounts      []accountHealth `json:"accounts"`
}

type accountHealth struct {
	Account string `json:"account"`
	OK      bool   `json:"ok"`
	// LastCompleted is when the last completed run finished, absent when
	// there is none.
	LastCompleted *time.Time `json:"last_completed,omitempty"`
	// Problem says why the account is not healthy.
	Problem string `json:"problem,omitempty"`
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	rep := healthReport{Status: "ok", HealthyWithin: h.within.String()}
	now := time.Now()
	for _, id := range h.accounts {
		a := accountHealth{Account: id}
		run, err := h.st.LastCompletedRun(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			a.Problem = "no completed run yet"
		case err != nil:
			a.Problem = "cannot read its runs: " + err.Error()
		default:
			finished := run.FinishedAt.UTC()
			a.LastCompleted = &finished
			if age := now.Sub(finished); age > h.within {
				a.Problem = "last completed run finished " + age.Round(time.Second).String() + " ago, more than " + h.within.String()
			} else {
				a.OK = true
			}
		}
		if !a.OK {
			rep.Status = "unhealthy"
		}
		rep.Accounts = append(rep.Accounts, a)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if rep.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(rep)
}
