package adplatform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
)

// Page is one page of a campaign listing.
type Page struct {
	Campaigns []Campaign
	// Invalid holds the records of this page that could not be decoded.
	Invalid []*RecordError
	// Page, Limit, Total and HasMore are the platform's pagination fields,
	// as sent. Platforms get them wrong: see [Client.Campaigns] for how
	// iteration decides where the listing ends.
	Page    int
	Limit   int
	Total   int
	HasMore bool
}

// decodePage decodes a listing: {"data": [...], "pagination": {page,
// limit, total, has_more}}. Each record is decoded on its own: a bad one
// becomes a *RecordError holding its raw JSON, in place, and the rest of
// the page is unaffected. A body that is not a listing is a *DecodeError.
// known are the secrets to redact from the errors' messages.
func decodePage(b []byte, page int, known secrets) (Page, []pageItem, error) {
	var wire struct {
		Data       *[]json.RawMessage `json:"data"`
		Pagination *struct {
			Page    json.RawMessage `json:"page"`
			Limit   json.RawMessage `json:"limit"`
			Total   json.RawMessage `json:"total"`
			HasMore json.RawMessage `json:"has_more"`
		} `json:"pagination"`
	}
	if err := json.Unmarshal(b, &wire); err != nil {
		return Page{}, nil, &DecodeError{Endpoint: EndpointList, Err: fmt.Errorf("listing is not the expected JSON object: %w", ErrMalformedResponse)}
	}
	if wire.Data == nil {
		// Absent; "data": null decodes to a pointer to a nil slice: an
		// empty page.
		if !hasKey(b, "data") {
			return Page{}, nil, &DecodeError{Endpoint: EndpointList, Field: "data", Err: errors.New("missing")}
		}
		wire.Data = new([]json.RawMessage)
	}
	p := Page{Page: page}
	if pg := wire.Pagination; pg != nil {
		var err error
		for _, f := range []struct {
			name string
			raw  json.RawMessage
			dst  *int
		}{{"pagination.page", pg.Page, &p.Page}, {"pagination.limit", pg.Limit, &p.Limit}, {"pagination.total", pg.Total, &p.Total}} {
			if *f.dst, err = optionalCount(f.raw, f.name); err != nil {
				return Page{}, nil, err
			}
		}
		if p.Page == 0 {
			p.Page = page
		}
		if len(pg.HasMore) > 0 && !isNull(pg.HasMore) {
			if err := json.Unmarshal(pg.HasMore, &p.HasMore); err != nil {
				return Page{}, nil, &DecodeError{Endpoint: EndpointList, Field: "pagination.has_more", Err: fmt.Errorf("want a boolean, got %s", jsonKind(pg.HasMore))}
			}
		}
	}
	items := make([]pageItem, 0, len(*wire.Data))
	for i, raw := range *wire.Data {
		var c Campaign
		if err := c.UnmarshalJSON(raw); err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				if de.Endpoint == "" {
					de.Endpoint = EndpointList
				}
				// The message quotes a little of the bad value, which a
				// hostile platform could fill with our token.
				if msg := de.Err.Error(); known.replace(msg) != msg {
					de.Err = errors.New(sanitize(msg, known, maxMessageRunes))
				}
			}
			rec := &RecordError{Page: page, Index: i, ID: recordID(raw), Raw: slices.Clone(raw), Err: err}
			p.Invalid = append(p.Invalid, rec)
			items = append(items, pageItem{err: rec})
			continue
		}
		p.Campaigns = append(p.Campaigns, c)
		items = append(items, pageItem{campaign: c})
	}
	return p, items, nil
}

// optionalCount reads a pagination count: absent or null is 0; otherwise
// a non-negative integer (a JSON number, or a string holding one).
func optionalCount(raw json.RawMessage, name string) (int, error) {
	if len(raw) == 0 || isNull(raw) {
		return 0, nil
	}
	lit := jsonText(raw)
	n, err := strconv.ParseInt(lit, 10, 0)
	if err != nil || n < 0 {
		return 0, &DecodeError{Endpoint: EndpointList, Field: name, Err: fmt.Errorf("want a non-negative integer, got %s", jsonKind(raw))}
	}
	return int(n), nil
}

// hasKey reports whether the JSON object b has the top-level key k.
func hasKey(b []byte, k string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	_, ok := m[k]
	return ok
}

// recordID is a bad record's id when it has a usable one.
func recordID(raw json.RawMessage) string {
	var rec struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &rec) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(rec.ID, &id) != nil {
		return ""
	}
	return id
}

// maxPagesUnknownTotal bounds a listing whose platform gives no total and
// keeps saying has_more while bringing new campaigns: nothing real is that
// long, a buggy platform can be.
const maxPagesUnknownTotal = 100_000

// Campaigns iterates over every campaign of the account, fetching pages of
// Options.PageSize lazily. It is robust to the platform's pagination bugs:
// it stops at the first of has_more false, an empty page, total distinct
// records yielded (bad ones included; even mid-page: the reference platform pads pages past
// the end with synthetic campaigns), a page identical to the previous one,
// a page cap derived from total, or, with no total, a page that brings
// nothing new. A campaign repeated at the start of the next page (offsets
// shifting under inserts) is yielded once; only the previous page's ids
// are remembered, so memory stays bounded by the page size. If the
// platform answers with a smaller page size than asked (a cap), the next
// pages ask for that size, so that offsets stay right.
//
// A record that cannot be decoded yields (Campaign{ID: its id if known},
// *RecordError) and iteration goes on; any other error is yielded with a
// zero Campaign and ends iteration. Breaking out of the loop stops it at
// once: no further page is fetched.
func (c *Client) Campaigns(ctx context.Context) iter.Seq2[Campaign, error] {
	return func(yield func(Campaign, error) bool) {
		limit := max(c.cfg.pageSize, 1) // 1 for a Client not made by New: listPage then reports it
		var (
			prevIDs  map[string]bool // the previous page's ids
			prevList []string        // ... in order, to spot a repeated page
			yielded  int             // distinct records yielded (bad ones too)
		)
		for page := 1; ; page++ {
			p, items, err := c.listPage(ctx, page, limit)
			if err != nil {
				yield(Campaign{}, err)
				return
			}
			if len(items) == 0 {
				return
			}
			ids := make([]string, len(items))
			for i, it := range items {
				if it.err != nil {
					ids[i] = it.err.ID
				} else {
					ids[i] = it.campaign.ID
				}
			}
			if slices.Equal(ids, prevList) {
				c.cfg.logger.Warn("adplatform: the platform repeated a page; stopping the listing", "page", page)
				return
			}
			curIDs := make(map[string]bool, len(items))
			fresh := 0
			for i, it := range items {
				id := ids[i]
				if id != "" {
					dup := prevIDs[id] || curIDs[id]
					curIDs[id] = true
					if dup {
						continue // seen on the previous page (shifted offsets) or earlier on this one
					}
				}
				fresh++
				yielded++
				var ok bool
				if it.err != nil {
					ok = yield(Campaign{ID: it.err.ID}, it.err)
				} else {
					ok = yield(it.campaign, nil)
				}
				if !ok {
					return
				}
				if p.Total > 0 && yielded >= p.Total {
					return // the rest is padding
				}
			}
			if !p.HasMore {
				return
			}
			if p.Total == 0 && fresh == 0 {
				// No total to go by, and the platform is going round in
				// circles.
				return
			}
			if p.Limit > 0 && p.Limit < limit {
				limit = p.Limit
			}
			if p.Total > 0 {
				// One page more than total needs, for the shifts.
				if page >= (p.Total+limit-1)/limit+1 {
					c.cfg.logger.Warn("adplatform: the listing goes past its total; stopping", "page", page, "total", p.Total)
					return
				}
			} else if page >= maxPagesUnknownTotal {
				return
			}
			prevIDs, prevList = curIDs, ids
		}
	}
}
