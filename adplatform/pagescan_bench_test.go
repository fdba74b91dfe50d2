package adplatform

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// validPage is a listing of n campaigns as the reference platform writes
// them, with some non-ASCII and escaped text, as a real account has.
func validPage(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		name := `"Campaign ` + strconv.Itoa(i) + `"`
		switch i % 10 {
		case 3:
			name = `"Été 🎉 soldes n°` + strconv.Itoa(i) + `"`
		case 7:
			name = `"Say \"hi\" \u00e9 ` + strconv.Itoa(i) + `"`
		}
		b.WriteString(rec("id", `"campaign_`+strconv.Itoa(i)+`"`, "name", name,
			"budget", strconv.Itoa(1000+i)+".50", "impressions", strconv.Itoa(8432*i)))
	}
	fmt.Fprintf(&b, `],"pagination":{"page":1,"limit":%d,"total":%d,"has_more":false}}`, n, n)
	return []byte(b.String())
}

// plainPage is what plain encoding/json decodes a listing into: the floor
// a decoder that checks nothing would cost.
type plainPage struct {
	Data       []wireCampaign `json:"data"`
	Pagination struct {
		Page    int  `json:"page"`
		Limit   int  `json:"limit"`
		Total   int  `json:"total"`
		HasMore bool `json:"has_more"`
	} `json:"pagination"`
}

// BenchmarkDecodePage decodes the same valid page with decodePage and
// with plain encoding/json, interleaved so that a busy machine slows both
// alike, and reports the ratio (x-encoding/json) next to each one's time.
func BenchmarkDecodePage(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		body := validPage(n)
		b.Run(fmt.Sprintf("campaigns=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			var ours, plain time.Duration
			for b.Loop() {
				t0 := time.Now()
				p, err := decodePage(body, 1, nil)
				t1 := time.Now()
				var pp plainPage
				err2 := json.Unmarshal(body, &pp)
				plain += time.Since(t1)
				ours += t1.Sub(t0)
				if err != nil || err2 != nil || len(campaigns(p)) != n || len(pp.Data) != n {
					b.Fatalf("decodePage: %d campaigns, %v; encoding/json: %d, %v", len(campaigns(p)), err, len(pp.Data), err2)
				}
			}
			b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ns/page")
			b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N), "ns/page-encoding/json")
			b.ReportMetric(float64(ours)/float64(plain), "x-encoding/json")
		})
	}
}
