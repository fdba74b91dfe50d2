package storetest_test

import (
	"testing"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/store/storetest"
)

// To prove a store, write a test that hands Run a function returning a
// fresh, empty store; here, the in-memory one.
func ExampleRun() {
	// In a _test.go file of your package:
	TestMyStore := func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			return memory.New() // your store here, new and empty on every call
		})
	}
	_ = TestMyStore
}
