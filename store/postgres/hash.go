package postgres

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"

	"github.com/adsync/adsync/store"
)

// hashSize is the length of a content hash.
const hashSize = sha256.Size

// contentHasher computes content hashes, reusing its state and scratch
// buffer from one campaign to the next.
type contentHasher struct {
	h   hash.Hash
	buf []byte
}

func newContentHasher() *contentHasher {
	return &contentHasher{h: sha256.New(), buf: make([]byte, 0, 256)}
}

// sum writes the content hash of c (normalized) into dst. The content is
// every field store.SameContent compares: the id, the text, the budget
// (its digits as given: "1.50" and "1.5" differ), the counts and the
// creation time as UTC microseconds. Each field is length-prefixed or of
// fixed size, so that no two different campaigns encode the same bytes;
// the leading version byte lets a future encoding tell itself apart.
func (ch *contentHasher) sum(dst *[hashSize]byte, c *store.Campaign) {
	b := append(ch.buf[:0], 1) // encoding version
	for _, s := range [...]string{c.ID, c.Name, c.Status, c.Budget} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, n := range [...]int64{c.Impressions, c.Clicks, c.Conversions} {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if c.CreatedAt.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, uint64(c.CreatedAt.UnixMicro()))
	}
	ch.h.Reset()
	ch.h.Write(b)
	ch.h.Sum(dst[:0])
	if cap(b) <= 64<<10 {
		ch.buf = b // keep the scratch buffer, unless one huge record grew it
	}
}

// rowKey is the primary key of a dead letter: the SHA-256 of its account
// id and campaign id. PostgreSQL cannot index text longer than about
// 2.7 kB, and a dead letter's campaign id has no length limit; the digest
// has 32 bytes. The account id is length-prefixed, so that ("ab", "c") and
// ("a", "bc") differ.
func rowKey(account, id string) [hashSize]byte {
	var key [hashSize]byte
	h := sha256.New()
	var prefix [1 + binary.MaxVarintLen64]byte
	prefix[0] = 1 // encoding version
	n := binary.PutUvarint(prefix[1:], uint64(len(account)))
	h.Write(prefix[:1+n])
	io.WriteString(h, account)
	io.WriteString(h, id)
	h.Sum(key[:0])
	return key
}
