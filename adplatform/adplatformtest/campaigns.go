package adplatformtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/adsync/adsync/adplatform"
)

// listBody is the listing's answer.
type listBody struct {
	Data       []json.RawMessage `json:"data"`
	Pagination pagination        `json:"pagination"`
}

type pagination struct {
	Page    int  `json:"page"`
	Limit   int  `json:"limit"`
	Total   int  `json:"total"`
	HasMore bool `json:"has_more"`
}

// list serves GET /api/campaigns?page=P&limit=L.
func (p *Platform) list(r *http.Request) response {
	q := r.URL.Query()
	page, ok := positiveParam(q, "page", 1)
	if !ok {
		return apiError(http.StatusBadRequest, "Bad Request", "page must be a positive integer")
	}
	limit, ok := positiveParam(q, "limit", referencePageSize)
	if !ok || limit > maxLimit {
		return apiError(http.StatusBadRequest, "Bad Request", fmt.Sprintf("limit must be an integer from 1 to %d", maxLimit))
	}
	if p.cfg.pageSizeCap > 0 {
		limit = min(limit, p.cfg.pageSizeCap)
	}
	if page > maxRecordNumber/limit {
		return apiError(http.StatusBadRequest, "Bad Request", "page is out of range")
	}
	if !p.wait(r, p.cfg.listLatency) {
		return response{kind: drop}
	}

	total := p.cfg.total()
	first, end := (page-1)*limit, page*limit
	var hasMore bool
	if p.cfg.honest {
		hasMore = end < total
		end = min(end, total)
	} else {
		// The reference's quirk: has_more as if pages held 10 campaigns,
		// and pages past the end padded with synthetic campaigns.
		hasMore = page < (total+referencePageSize-1)/referencePageSize
	}
	data := make([]json.RawMessage, 0, max(end-first, 0))
	for i := first; i < end; i++ {
		data = append(data, p.record(i))
	}
	return jsonResponse(http.StatusOK, listBody{
		Data:       data,
		Pagination: pagination{Page: page, Limit: limit, Total: total, HasMore: hasMore},
	})
}

// positiveParam parses a query parameter as a positive decimal integer:
// absent is def; empty, signed, non-decimal, zero or huge is invalid.
func positiveParam(q url.Values, name string, def int) (int, bool) {
	vs, ok := q[name]
	if !ok {
		return def, true
	}
	s := vs[0]
	if s == "" || len(s) > 18 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// record is the listed record at 0-based position i: a raw replacement,
// an explicit campaign, or a generated one (synthetic past the end).
func (p *Platform) record(i int) json.RawMessage {
	if raw, ok := p.cfg.raw[i]; ok {
		return raw
	}
	if i < len(p.records) {
		return p.records[i]
	}
	return p.generated(i + 1)
}

// generated builds campaign number k as the reference does, with fresh
// counts on every call.
func (p *Platform) generated(k int) json.RawMessage {
	c := adplatform.Campaign{
		ID:          "campaign_" + strconv.Itoa(k),
		Name:        "Campaign " + strconv.Itoa(k),
		Status:      "active",
		Budget:      strconv.Itoa(1000 + 100*k),
		Impressions: rand.Int64N(10000),
		Clicks:      rand.Int64N(500),
		Conversions: rand.Int64N(50),
	}
	// Created k days before the fake started (stable across listings,
	// unlike the reference, which counts back from each request). Far
	// synthetic campaigns would predate year 1, which JSON times cannot
	// hold: they have no created_at, which the contract allows.
	if k <= 500_000 {
		c.CreatedAt = p.started.UTC().Truncate(time.Millisecond).AddDate(0, 0, -k)
	}
	b, err := json.Marshal(c)
	if err != nil { // the values above always encode
		panic("adplatformtest: encode generated campaign: " + err.Error())
	}
	return b
}

// knows reports whether id is a campaign the sync endpoint accepts: a real
// campaign (not a synthetic one) or a raw record's id.
func (p *Platform) knows(id string) bool {
	if p.ids[id] {
		return true
	}
	if p.records != nil {
		return false
	}
	digits, ok := strings.CutPrefix(id, "campaign_")
	if !ok || digits == "" || digits[0] == '0' || len(digits) > 18 || strings.Trim(digits, "0123456789") != "" {
		return false
	}
	k, err := strconv.Atoi(digits)
	return err == nil && k <= p.cfg.campaigns
}

// syncBody is the sync endpoint's answer.
type syncBody struct {
	Success    bool   `json:"success"`
	CampaignID string `json:"campaign_id"`
	SyncedAt   string `json:"synced_at"`
	Message    string `json:"message"`
}

// maxSyncBody bounds the optional request body.
const maxSyncBody = 1 << 20

// sync serves POST /api/campaigns/{id}/sync.
func (p *Platform) sync(r *http.Request, id string) response {
	if status, ok := p.cfg.syncErr[id]; ok {
		return apiError(status, http.StatusText(status), "Sync failed for this campaign")
	}
	if !p.knows(id) {
		return apiError(http.StatusNotFound, "Not Found", "Campaign not found")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSyncBody+1))
	switch {
	case err != nil:
		return response{kind: drop} // the client broke off its own request
	case len(body) > maxSyncBody:
		return apiError(http.StatusRequestEntityTooLarge, "Payload Too Large", "The request body is over 1 MiB")
	case len(strings.TrimSpace(string(body))) > 0 && !json.Valid(body):
		return apiError(http.StatusBadRequest, "Bad Request", "The request body is not valid JSON")
	}
	if !p.wait(r, p.cfg.syncLatency) {
		return response{kind: drop}
	}
	return jsonResponse(http.StatusOK, syncBody{
		Success:    true,
		CampaignID: id,
		SyncedAt:   isoTime(time.Now()),
		Message:    "Campaign data synced successfully",
	})
}
