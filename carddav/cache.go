package carddav

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// renderCache keeps rendered directory cards, keyed by card, variant and
// version, and checked against the card's content tag, so a card is
// rendered once per revision and variant, not once per request.
//
// Cards are copied in and out under the lock, so no reader holds an
// entry's buffer once it is evicted: the buffer is reused for the next
// card put, and a download that fills the cache over and over leaves
// nothing to the collector.
//
// It holds at most budget bytes in two FIFO queues (as S3-FIFO does): a
// new card enters a small probation queue and moves to the main queue
// only if it is read again before it reaches the head; the main queue
// gives each card read since it last passed the head another turn. One
// viewer's download of a book larger than the cache therefore cycles
// through probation and leaves alone the cards that other viewers keep
// reading.
type renderCache struct {
	mu          sync.RWMutex
	m           map[cacheKey]int32 // slot of each card
	slots       []cacheSlot
	free        []int32  // slots emptied by eviction
	spare       [][]byte // their buffers, for the next cards put
	spareBytes  int64
	small, main fifo
	bytes       int64 // in both queues
	smallBytes  int64
	budget      int64

	// ghost remembers recent misses by a hash of their key, so a card
	// escaped for reports is kept only when it is asked for a second time
	// (by another viewer, or another download). Its slots are written
	// without the lock: a lost update only costs one more rendering.
	ghost []atomic.Uint64
	seed  maphash.Seed
}

type cacheKey struct {
	name string
	mask directory.FieldSet
	v4   bool
	xml  bool // escaped for a multistatus, as reports send it
}

type cacheVal struct {
	tag    string
	data   []byte
	rawLen int // the card's length before escaping
}

type cacheSlot struct {
	key    cacheKey
	val    cacheVal
	used   atomic.Bool // read since it entered its queue or last passed the head
	inMain bool
}

// fifo is a queue of slots.
type fifo struct {
	q    []int32
	head int
}

func (f *fifo) push(i int32) { f.q = append(f.q, i) }
func (f *fifo) len() int     { return len(f.q) - f.head }

func (f *fifo) pop() int32 {
	i := f.q[f.head]
	f.head++
	if f.head > 1024 && f.head > len(f.q)/2 {
		f.q = f.q[:copy(f.q, f.q[f.head:])]
		f.head = 0
	}
	return i
}

func newRenderCache(budget int64) *renderCache {
	// About as many remembered misses as cards the cache can hold (1 to
	// 2 KiB each escaped): a book too large for the cache is not admitted
	// card by card only to push itself out again.
	n := 1 << bits.Len64(uint64(max(budget/1024, 1024)))
	return &renderCache{m: map[cacheKey]int32{}, budget: budget, ghost: make([]atomic.Uint64, n), seed: maphash.MakeSeed()}
}

// admit tells whether a card missed recently enough to be worth keeping,
// and remembers this miss if not.
func (c *renderCache) admit(k cacheKey) bool {
	h := maphash.Comparable(c.seed, k) | 1 // 0 is an empty slot
	g := &c.ghost[h&uint64(len(c.ghost)-1)]
	if g.Load() == h {
		return true
	}
	g.Store(h)
	return false
}

// cost is what an entry holds in memory: its bytes and the map's,
// slot's and queue's share.
func (k cacheKey) cost(v cacheVal) int64 {
	return int64(cap(v.data) + len(k.name) + len(v.tag) + 160)
}

// get appends a cached card to dst and gives its length before escaping.
func (c *renderCache) get(k cacheKey, tag string, dst []byte) ([]byte, int, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.m[k]
	if !ok {
		return dst, 0, false
	}
	s := &c.slots[i]
	if s.val.tag != tag {
		return dst, 0, false
	}
	if !s.used.Load() {
		s.used.Store(true)
	}
	return append(dst, s.val.data...), s.val.rawLen, true
}

// put stores a copy of a rendering and evicts until the cache is within
// its budget.
func (c *renderCache) put(k cacheKey, tag string, data []byte, rawLen int) {
	// Charged by length here: data may sit in a caller's larger buffer.
	if int64(len(data)+len(k.name)+len(tag)+160) > c.budget/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var buf []byte
	if n := len(c.spare); n > 0 {
		buf, c.spare = c.spare[n-1], c.spare[:n-1]
		c.spareBytes -= int64(cap(buf))
	}
	// A card is charged for its buffer's room: a group card's buffer
	// reused for a person's would make the cache hold a fraction of its
	// budget in cards.
	if cap(buf) < len(data) || cap(buf) > 2*len(data)+256 {
		buf = make([]byte, 0, len(data)+len(data)/4)
	}
	v := cacheVal{tag: tag, data: append(buf[:0], data...), rawLen: rawLen}
	size := k.cost(v)
	if i, ok := c.m[k]; ok {
		s := &c.slots[i]
		d := size - s.key.cost(s.val)
		c.bytes += d
		if !s.inMain {
			c.smallBytes += d
		}
		c.keep(s.val.data)
		s.val = v
	} else {
		var i int32
		if n := len(c.free); n > 0 {
			i, c.free = c.free[n-1], c.free[:n-1]
		} else {
			c.slots = append(c.slots, cacheSlot{})
			i = int32(len(c.slots) - 1)
		}
		s := &c.slots[i]
		s.key, s.val, s.inMain = k, v, false
		s.used.Store(false)
		c.m[k] = i
		c.small.push(i)
		c.bytes += size
		c.smallBytes += size
	}
	// Each card passes a head at most twice before it is evicted.
	for turns := 2*len(c.m) + 2; c.bytes > c.budget && turns > 0; turns-- {
		if c.main.len() == 0 || c.smallBytes > c.budget/10 {
			i := c.small.pop()
			s := &c.slots[i]
			cost := s.key.cost(s.val)
			c.smallBytes -= cost
			if s.used.Load() {
				s.used.Store(false)
				s.inMain = true
				c.main.push(i)
				continue
			}
			c.evict(i, cost)
			continue
		}
		i := c.main.pop()
		s := &c.slots[i]
		if s.used.Load() {
			s.used.Store(false)
			c.main.push(i)
			continue
		}
		c.evict(i, s.key.cost(s.val))
	}
}

func (c *renderCache) evict(i int32, cost int64) {
	s := &c.slots[i]
	c.bytes -= cost
	delete(c.m, s.key)
	c.keep(s.val.data)
	s.key, s.val, s.inMain = cacheKey{}, cacheVal{}, false
	c.free = append(c.free, i)
}

// keep keeps an evicted card's buffer for the next put; a few suffice,
// as every put evicts about as much as it adds. They are outside the
// budget, so they are bounded by a sixteenth of it.
func (c *renderCache) keep(b []byte) {
	if len(c.spare) < 64 && c.spareBytes+int64(cap(b)) <= c.budget/16 {
		c.spare = append(c.spare, b)
		c.spareBytes += int64(cap(b))
	}
}

// render returns a directory card's bytes for a variant, from the cache
// or freshly rendered from the store.
func (s *Server) render(rd *store.Reader, it *store.Item, mask directory.FieldSet, v4 bool) ([]byte, error) {
	k := cacheKey{name: it.Name, mask: mask, v4: v4}
	if data, _, ok := s.cache.get(k, it.Tag, nil); ok {
		return data, nil
	}
	data, err := s.renderFresh(rd, it, mask, v4)
	if err != nil {
		return nil, err
	}
	s.cache.put(k, it.Tag, data, len(data))
	return data, nil
}

// renderXML returns a card escaped for a multistatus, in p's buffer, and
// its length as a card: what reports send, cached so a download of the
// book is a copy. A card is cached from its second miss on, so a download
// of a book larger than the cache does not push out what other viewers
// read.
func (s *Server) renderXML(rd *store.Reader, it *store.Item, mask directory.FieldSet, p *cardPlan) ([]byte, int, error) {
	k := cacheKey{name: it.Name, mask: mask, v4: p.v4, xml: true}
	if p.xmlBuf == nil {
		p.xmlBuf = *xmlBufPool.Get().(*[]byte)
	}
	var n int
	var ok bool
	if p.xmlBuf, n, ok = s.cache.get(k, it.Tag, p.xmlBuf[:0]); ok {
		return p.xmlBuf, n, nil
	}
	var data []byte
	var err error
	w := writerPool.Get().(*cardWriter)
	defer putWriter(w)
	if it.Kind == store.KindPerson {
		// The most common card, rendered straight from the database
		// into a reused buffer.
		w.b, w.v4 = w.b[:0], p.v4
		err = rd.WithPerson(it.Name, func(e *directory.Entry) { w.person(it.Name, e, mask) })
		data = w.b
	} else {
		data, err = s.renderFresh(rd, it, mask, p.v4)
	}
	if err != nil {
		return nil, 0, err
	}
	// CR becomes &#13; (4 more bytes a line): room for that at once.
	p.xmlBuf = appendXML(slices.Grow(p.xmlBuf[:0], len(data)+len(data)/8+64), data)
	// Group cards are the same for every viewer and cost a hash per
	// member: always worth keeping.
	if it.Kind != store.KindPerson || s.cache.admit(k) {
		s.cache.put(k, it.Tag, p.xmlBuf, len(data))
	}
	return p.xmlBuf, len(data), nil
}

// xmlBufPool keeps the buffers cards are escaped into, from one report
// to the next.
var xmlBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// release gives the plan's buffers back once its response is written.
func (p *cardPlan) release() {
	if p.xmlBuf != nil && cap(p.xmlBuf) <= 64<<10 {
		b := p.xmlBuf[:0]
		xmlBufPool.Put(&b)
	}
	p.xmlBuf = nil
}

// writerPool keeps card writers for renderings that are escaped at once,
// so their buffers are reused rather than left to the collector.
var writerPool = sync.Pool{New: func() any { return &cardWriter{b: make([]byte, 0, 4096)} }}

// putWriter pools a card writer unless a large card grew its buffer:
// pooled, that room would stay for good.
func putWriter(w *cardWriter) {
	if cap(w.b) <= 64<<10 {
		writerPool.Put(w)
	}
}

// renderFresh renders a card from the store, people through the
// request's reader.
func (s *Server) renderFresh(rd *store.Reader, it *store.Item, mask directory.FieldSet, v4 bool) ([]byte, error) {
	var data []byte
	switch it.Kind {
	case store.KindPerson:
		e, err := rd.Person(it.Name)
		if err != nil {
			return nil, err
		}
		data = renderPersonAs(it.Name, e, mask, v4)
	case store.KindGroup:
		g, err := s.store.Group(it.Name)
		if err != nil {
			return nil, err
		}
		data = renderGroup(g, v4)
	case store.KindContact:
		c, err := s.store.ContactCard(it.Name)
		if err != nil {
			return nil, err
		}
		// The card name is its UID in the Company book: one contact in
		// two lists a viewer receives must not be two cards of one UID.
		data = rewriteCard(c.Card, v4, it.Name)
	case store.KindListGroup:
		g, err := s.store.ListGroupCard(it.Name)
		if err != nil {
			return nil, err
		}
		data = renderGroupCard(it.Name, g.Name, g.Members, v4)
	}
	return data, nil
}
