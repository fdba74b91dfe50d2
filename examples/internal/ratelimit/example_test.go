package ratelimit_test

import (
	"fmt"

	"github.com/adsync/adsync/examples/internal/ratelimit"
)

func ExampleParse() {
	r, err := ratelimit.Parse("10/1m")
	fmt.Println(r.N, r.Window, err)

	r, _ = ratelimit.Parse("10/2s")
	fmt.Println(r)

	_, err = ratelimit.Parse("10 per minute")
	fmt.Println(err)
	// Output:
	// 10 1m0s <nil>
	// 10/2s
	// want N/DURATION, e.g. 10/1m or 10/2s
}
