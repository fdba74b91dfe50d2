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

// Page is one page of a campaign listing, as [Client.Pages] and
// [Client.ListCampaigns] return it.
type Page struct {
	// Number, Limit, Total and HasMore are the platform's pagination
	// fields, as it sent them: Number is the page asked for when the
	// platform did not say, Limit and Total are 0 when it did not say.
	// Platforms get them wrong (the reference platform says HasMore on
	// its last page): see [Client.Pages] for how a listing decides where
	// it ends.
	Number, Limit, Total int
	HasMore              bool
	// Records are the page's records in the platform's order. Pages
	// leaves out what comes after a listing's end (padding past Total).
	Records []Record
}

// Record is one record of a listed page: a campaign, or a record that
// could not be decoded, with the bytes the platform sent either way.
type Record struct {
	// Campaign is the decoded campaign. When Err is set it is zero but
	// for its ID, set when the record had a usable one.
	Campaign Campaign
	// Raw is the record exactly as the platform sent it, byte for byte.
	Raw json.RawMessage
	// Err is set when the record could not be decoded; it holds Raw too.
	Err *RecordError
	// Duplicate marks a record whose id came earlier in the listing: on
	// the same page, or on the previous one, where offsets shifting under
	// inserts put it again. The first copy came unmarked. A caller that
	// syncs each campaign once skips duplicates (as [Client.Campaigns]
	// does); a caller storing what the platform listed lets the last
	// valid copy win, as the store's contract says, without syncing the
	// campaign again. Only the previous page's ids are remembered, so
	// that memory stays bounded by the page size: copies further apart
	// are not marked.
	Duplicate bool
}

// decodePage decodes a listing: {"data": [...], "pagination": {page,
// limit, total, has_more}}. scanPage finds each record's bytes, and each
// is decoded on its own: a bad one, even one that breaks the page's JSON,
// becomes a *RecordError holding its raw bytes, in place, and the rest of
// the page is unaffected. A body that is not a listing is a *DecodeError,
// wrapping ErrMalformedResponse when it cannot be followed at all. known
// are the secrets to redact from the errors' messages.
func decodePage(b []byte, page int, known secrets) (Page, error) {
	l, err := scanPage(b)
	if err != nil {
		return Page{}, err
	}
	p := Page{Number: page}
	pg := l.pagination
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *int
	}{{"pagination.page", pg.Page, &p.Number}, {"pagination.limit", pg.Limit, &p.Limit}, {"pagination.total", pg.Total, &p.Total}} {
		if *f.dst, err = optionalCount(f.raw, f.name); err != nil {
			return Page{}, err
		}
	}
	if p.Number == 0 {
		p.Number = page
	}
	if len(pg.HasMore) > 0 && !isNull(pg.HasMore) {
		if err := json.Unmarshal(pg.HasMore, &p.HasMore); err != nil {
			return Page{}, &DecodeError{Endpoint: EndpointList, Field: "pagination.has_more", Err: fmt.Errorf("want a boolean, got %s", jsonKind(pg.HasMore))}
		}
	}
	p.Records = make([]Record, len(l.records))
	for i, sp := range l.records {
		raw := json.RawMessage(b[sp.start:sp.end])
		p.Records[i].Raw = raw
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
			rec := &RecordError{Page: page, Index: i, ID: recordID(fields), Raw: raw, Err: err}
			p.Records[i].Campaign.ID = rec.ID
			p.Records[i].Err = rec
			continue
		}
		p.Records[i].Campaign = c
	}
	return p, nil
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

// Pages iterates over the pages of the account's campaign listing,
// fetching pages of Options.PageSize lazily, each as it is needed. It is
// robust to the platform's pagination bugs: the listing ends at the first
// of has_more false, an empty page, Total distinct records (bad ones
// included; even mid-page: the reference platform pads pages past the end
// with synthetic campaigns, which are cut off), a page identical to the
// previous one (not yielded), a page cap derived from Total (one page more
// than Total needs, for shifts), or, with no Total, a page that brings no
// new id, or 100,000 pages. A record repeating an id of the same or the
// previous page is yielded marked [Record.Duplicate]. If the platform
// answers with a smaller page size than asked (a cap), the next pages ask
// for that size, so that offsets stay right.
//
// A page that cannot be had (its retries spent, a 4xx, a body that is not
// a listing) is yielded as a zero Page and the error, and ends the
// iteration; records that cannot be decoded do not: they are in the page
// with their Err set. Breaking out of the loop stops it at once: no
// further page is fetched.
func (c *Client) Pages(ctx context.Context) iter.Seq2[Page, error] {
	return func(yield func(Page, error) bool) {
		limit := max(c.cfg.pageSize, 1) // 1 for a Client not made by New: listPage then reports it
		var (
			prevIDs  map[string]bool // the previous page's ids
			prevList []string        // ... in order, to spot a repeated page
			distinct int             // records not marked Duplicate so far
		)
		for number := 1; ; number++ {
			p, err := c.listPage(ctx, number, limit)
			if err != nil {
				yield(Page{}, err)
				return
			}
			if len(p.Records) == 0 {
				return
			}
			ids := make([]string, len(p.Records))
			for i, r := range p.Records {
				ids[i] = r.Campaign.ID
			}
			if slices.Equal(ids, prevList) {
				c.cfg.logger.Warn("adplatform: the platform repeated a page; stopping the listing", "page", number)
				return
			}
			curIDs := markDuplicates(p.Records, prevIDs)
			fresh := 0
			for i, r := range p.Records {
				if r.Duplicate {
					continue
				}
				fresh++
				distinct++
				if p.Total > 0 && distinct >= p.Total {
					p.Records = p.Records[:i+1] // the rest is padding
					break
				}
			}
			if !yield(p, nil) || p.Total > 0 && distinct >= p.Total || !p.HasMore {
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
				if number >= (p.Total+limit-1)/limit+1 {
					c.cfg.logger.Warn("adplatform: the listing goes past its total; stopping", "page", number, "total", p.Total)
					return
				}
			} else if number >= maxPagesUnknownTotal {
				return
			}
			prevIDs, prevList = curIDs, ids
		}
	}
}

// markDuplicates marks the records whose id is in prev or earlier in
// records, and returns the ids of records. A record without an id is
// never a duplicate.
func markDuplicates(records []Record, prev map[string]bool) map[string]bool {
	cur := make(map[string]bool, len(records))
	for i := range records {
		id := records[i].Campaign.ID
		if id == "" {
			continue
		}
		records[i].Duplicate = prev[id] || cur[id]
		cur[id] = true
	}
	return cur
}

// Campaigns iterates over every campaign of the account, once each: the
// records of [Client.Pages], duplicates left out (the first copy of an
// id is the one yielded), with the same robustness and laziness.
//
// A record that cannot be decoded yields (Campaign{ID: its id if known},
// *RecordError) and iteration goes on; any other error is yielded with a
// zero Campaign and ends iteration. Breaking out of the loop stops it at
// once: no further page is fetched.
func (c *Client) Campaigns(ctx context.Context) iter.Seq2[Campaign, error] {
	return func(yield func(Campaign, error) bool) {
		for p, err := range c.Pages(ctx) {
			if err != nil {
				yield(Campaign{}, err)
				return
			}
			for _, r := range p.Records {
				switch {
				case r.Duplicate:
				case r.Err != nil:
					if !yield(r.Campaign, r.Err) {
						return
					}
				default:
					if !yield(r.Campaign, nil) {
						return
					}
				}
			}
		}
	}
}
