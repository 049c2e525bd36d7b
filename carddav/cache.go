package carddav

import (
	"sync"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// renderCache keeps rendered directory cards, keyed by card, variant and
// version, and checked against the card's content tag, so a card is
// rendered once per revision and variant, not once per request.
type renderCache struct {
	mu     sync.RWMutex
	m      map[cacheKey]cacheVal
	bytes  int64
	budget int64
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

func newRenderCache(budget int64) *renderCache {
	return &renderCache{m: map[cacheKey]cacheVal{}, budget: budget}
}

func (c *renderCache) get(k cacheKey, tag string) (cacheVal, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || v.tag != tag {
		return cacheVal{}, false
	}
	return v, true
}

// put stores a rendering. Over budget it evicts arbitrary entries (map
// order) down to 90%: cheap, and good enough for a cache whose misses cost
// microseconds.
func (c *renderCache) put(k cacheKey, v cacheVal) {
	data, tag := v.data, v.tag
	size := int64(len(data) + len(k.name) + len(tag) + 64)
	if size > c.budget/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		c.bytes -= int64(len(old.data) + len(k.name) + len(old.tag) + 64)
	}
	c.m[k] = v
	c.bytes += size
	if c.bytes > c.budget {
		for ek, ev := range c.m {
			delete(c.m, ek)
			c.bytes -= int64(len(ev.data) + len(ek.name) + len(ev.tag) + 64)
			if c.bytes <= c.budget*9/10 {
				break
			}
		}
	}
}

// render returns a directory card's bytes for a variant, from the cache
// or freshly rendered from the store.
func (s *Server) render(rd *store.Reader, it *store.Item, mask directory.FieldSet, v4 bool) ([]byte, error) {
	k := cacheKey{name: it.Name, mask: mask, v4: v4}
	if v, ok := s.cache.get(k, it.Tag); ok {
		return v.data, nil
	}
	data, err := s.renderFresh(rd, it, mask, v4)
	if err != nil {
		return nil, err
	}
	s.cache.put(k, cacheVal{tag: it.Tag, data: data, rawLen: len(data)})
	return data, nil
}

// renderXML returns a card escaped for a multistatus, and its length as
// a card: what reports send, cached so a download of the book is a copy.
func (s *Server) renderXML(rd *store.Reader, it *store.Item, mask directory.FieldSet, v4 bool) ([]byte, int, error) {
	k := cacheKey{name: it.Name, mask: mask, v4: v4, xml: true}
	if v, ok := s.cache.get(k, it.Tag); ok {
		return v.data, v.rawLen, nil
	}
	var data []byte
	var err error
	w := writerPool.Get().(*cardWriter)
	defer writerPool.Put(w)
	if it.Kind == store.KindPerson {
		// The most common card, rendered straight from the database
		// into a reused buffer: only the escaped copy is kept.
		w.b, w.v4 = w.b[:0], v4
		err = rd.WithPerson(it.Name, func(e *directory.Entry) { w.person(it.Name, e, mask) })
		data = w.b
	} else {
		data, err = s.renderFresh(rd, it, mask, v4)
	}
	if err != nil {
		return nil, 0, err
	}
	// CR becomes &#13; (4 more bytes a line): room for that without a copy.
	v := cacheVal{tag: it.Tag, data: appendXML(make([]byte, 0, len(data)+len(data)/8+64), data), rawLen: len(data)}
	s.cache.put(k, v)
	return v.data, v.rawLen, nil
}

// writerPool keeps card writers for renderings that are escaped at once,
// so their buffers are reused rather than left to the collector.
var writerPool = sync.Pool{New: func() any { return &cardWriter{b: make([]byte, 0, 4096)} }}

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
