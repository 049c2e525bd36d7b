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
}

type cacheVal struct {
	tag  string
	data []byte
}

func newRenderCache(budget int64) *renderCache {
	return &renderCache{m: map[cacheKey]cacheVal{}, budget: budget}
}

func (c *renderCache) get(k cacheKey, tag string) ([]byte, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || v.tag != tag {
		return nil, false
	}
	return v.data, true
}

// put stores a rendering. Over budget it evicts arbitrary entries (map
// order) down to 90%: cheap, and good enough for a cache whose misses cost
// microseconds.
func (c *renderCache) put(k cacheKey, tag string, data []byte) {
	size := int64(len(data) + len(k.name) + len(tag) + 64)
	if size > c.budget/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		c.bytes -= int64(len(old.data) + len(k.name) + len(old.tag) + 64)
	}
	c.m[k] = cacheVal{tag: tag, data: data}
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
func (s *Server) render(it *store.Item, mask directory.FieldSet, v4 bool) ([]byte, error) {
	k := cacheKey{name: it.Name, mask: mask, v4: v4}
	if data, ok := s.cache.get(k, it.Tag); ok {
		return data, nil
	}
	var data []byte
	switch it.Kind {
	case store.KindPerson:
		e, err := s.store.Person(it.Name)
		if err != nil {
			return nil, err
		}
		data = renderPerson(e, mask, v4)
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
	s.cache.put(k, it.Tag, data)
	return data, nil
}
