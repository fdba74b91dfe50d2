package postgres

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
)

// letterKey is the primary key of a dead letter: the SHA-256 of its
// account id and campaign id. PostgreSQL cannot index text longer than
// about 2.7 kB, and a dead letter's campaign id has no length limit; the
// digest has 32 bytes. The account id is length-prefixed, so that ("ab",
// "c") and ("a", "bc") differ.
func letterKey(account, id string) []byte {
	h := sha256.New()
	var prefix [1 + binary.MaxVarintLen64]byte
	prefix[0] = 1 // encoding version
	n := binary.PutUvarint(prefix[1:], uint64(len(account)))
	h.Write(prefix[:1+n])
	io.WriteString(h, account)
	io.WriteString(h, id)
	return h.Sum(nil)
}
