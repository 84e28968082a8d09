package postbox

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is the base32 alphabet of ULIDs: ids sort as strings in the
// order they were made.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDGen makes sortable unique ids (ULIDs): 48 bits of milliseconds then 80
// random bits, incremented within one millisecond so that ids made by one
// generator are strictly increasing. The zero value is ready to use.
type IDGen struct {
	mu     sync.Mutex
	lastMS uint64
	hi     uint16 // top 16 of the 80 random bits
	lo     uint64 // low 64
}

// New returns an id for time t.
func (g *IDGen) New(t time.Time) string {
	ms := uint64(t.UnixMilli())
	g.mu.Lock()
	if ms <= g.lastMS {
		ms = g.lastMS
		g.lo++
		if g.lo == 0 {
			g.hi++
		}
	} else {
		var b [10]byte
		_, _ = rand.Read(b[:])
		g.hi = binary.BigEndian.Uint16(b[:2])
		g.lo = binary.BigEndian.Uint64(b[2:])
		g.lastMS = ms
	}
	hi, lo := g.hi, g.lo
	g.mu.Unlock()

	var out [26]byte
	// 128 bits: ms (48) | hi (16) | lo (64), written 5 bits at a time from
	// the end; the first char carries the top 3 bits.
	w0 := ms<<16 | uint64(hi) // the top 64 bits
	w1 := lo                  // the low 64 bits
	for i := 25; i >= 0; i-- {
		out[i] = crockford[w1&31]
		w1 = w1>>5 | (w0&31)<<59
		w0 >>= 5
	}
	return string(out[:])
}
