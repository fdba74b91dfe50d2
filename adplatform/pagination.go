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

// decodePage decodes a listing: {"data": [...], "pagination": {page,
// limit, total, has_more}}. scanPage finds each record's bytes, and each
// is decoded on its own: a bad one, even one that breaks the page's JSON,
// becomes a *RecordError holding its raw bytes, in place, and the rest of
// the page is unaffected. A body that is not a listing is a *DecodeError,
// wrapping ErrMalformedResponse when it cannot be followed at all. known
// are the secrets to redact from the errors' messages.
func decodePage(b []byte, page int, known secrets) (Page, []pageItem, error) {
	l, err := scanPage(b)
	if err != nil {
		return Page{}, nil, err
	}
	p := Page{Page: page}
	pg := l.pagination
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
	items := make([]pageItem, 0, len(l.records))
	for i, sp := range l.records {
		raw := b[sp.start:sp.end]
		c, fields, err := decodeCampaign(raw)
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				de.Endpoint = EndpointList
				// The message quotes a little of the bad value, and the
				// path the record's keys, which a hostile platform could
				// fill with our token.
				if msg := de.Error(); known.replace(msg) != msg {
					de.Field = sanitize(de.Field, known, maxMessageRunes)
					de.Err = errors.New(sanitize(de.Err.Error(), known, maxMessageRunes))
				}
			}
			rec := &RecordError{Page: page, Index: i, ID: recordID(fields), Raw: slices.Clone(raw), Err: err}
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
func (c *HTTPClient) Campaigns(ctx context.Context) iter.Seq2[Campaign, error] {
	return func(yield func(Campaign, error) bool) {
		limit := max(c.cfg.pageSize, 1) // 1 for an HTTPClient not made by New: listPage then reports it
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
