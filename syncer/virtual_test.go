package syncer_test

import (
	"cmp"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// Inside a testing/synctest bubble the fake platform runs in this process,
// reached without a socket, so that it lives on the bubble's fake clock: a
// run of minutes takes milliseconds, and every time it measures is exact.

// handlerTransport serves each request with a handler in this process. It
// tells the client the request was written before serving it, as
// net/http's transport does once the bytes are out: the client logs its
// rate-limit slot then. A handler that aborts (the fake's hang and reset)
// is a transport error.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.WroteRequest != nil {
		tr.WroteRequest(httptrace.WroteRequestInfo{})
	}
	served := req.Clone(req.Context())
	served.RequestURI = req.URL.RequestURI()
	served.Body = cmp.Or[io.ReadCloser](req.Body, http.NoBody)
	defer func() {
		if v := recover(); v == http.ErrAbortHandler {
			resp, err = nil, io.ErrUnexpectedEOF
		} else if v != nil {
			panic(v)
		}
	}()
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, served)
	return w.Result(), nil
}

// virtualPlatform starts the fake for a test in a synctest bubble, with
// opts as given (zero: the reference platform), and closes it when the
// test ends.
func virtualPlatform(t testing.TB, opts adplatformtest.Options) *adplatformtest.Platform {
	t.Helper()
	p, err := adplatformtest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// virtualClient is a client of p through handlerTransport, paced for
// limit requests per window, with short backoffs; tweak adjusts it.
func virtualClient(t testing.TB, p http.Handler, limit int, window time.Duration, tweak ...func(*adplatform.Options)) *adplatform.Client {
	t.Helper()
	opts := adplatform.Options{
		Transport:  handlerTransport{p},
		RateLimit:  limit,
		RateWindow: window,
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 100 * time.Millisecond,
	}
	for _, f := range tweak {
		f(&opts)
	}
	return mustClient(t, "http://platform.invalid", opts)
}
