package postgrestest_test

import (
	"os"
	"testing"

	"github.com/adsync/adsync/store/postgres/postgrestest"
)

func TestMain(m *testing.M) { os.Exit(postgrestest.Main(m)) }
