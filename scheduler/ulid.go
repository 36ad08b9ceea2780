package scheduler

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var ulidMu sync.Mutex
var ulidLast [16]byte

// NewULID returns a ULID (48-bit milliseconds + 80 random bits, Crockford
// base32): unique, and sorting by string sorts by time. Within one
// millisecond it increments the random part, so ids stay ordered.
func NewULID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	ulidMu.Lock()
	if [6]byte(b[:6]) == [6]byte(ulidLast[:6]) {
		copy(b[6:], ulidLast[6:])
		// increment the 80-bit random part
		lo := binary.BigEndian.Uint64(b[8:]) + 1
		binary.BigEndian.PutUint64(b[8:], lo)
		if lo == 0 {
			hi := binary.BigEndian.Uint16(b[6:8]) + 1
			binary.BigEndian.PutUint16(b[6:8], hi)
		}
	} else {
		_, _ = rand.Read(b[6:])
	}
	ulidLast = b
	ulidMu.Unlock()
	return encodeULID(b)
}

func encodeULID(b [16]byte) string {
	// 128 bits as 26 base32 digits, most significant first (2 leading pad
	// bits).
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
