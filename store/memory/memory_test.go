package memory_test

import (
	"testing"

	"github.com/adsync/adsync/store"
	"github.com/adsync/adsync/store/memory"
	"github.com/adsync/adsync/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
	storetest.RunBookkeeping(t, func(t *testing.T) store.RunStore { return memory.New() })
}

// WithBookkeeping over another memory store keeps every rule too: the
// campaigns live in the inner store, the bookkeeping in the outer one.
func TestConformanceWithBookkeeping(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return memory.WithBookkeeping(memory.New()) })
	storetest.RunBookkeeping(t, func(t *testing.T) store.RunStore { return memory.WithBookkeeping(memory.New()) })
}
