package carddav

import (
	"fmt"
	"sync"
	"testing"
)

func cacheEntry(i, size int) (cacheKey, cacheVal) {
	return cacheKey{name: fmt.Sprintf("card-%06d", i)}, cacheVal{tag: "t", data: make([]byte, size)}
}

func (c *renderCache) putVal(k cacheKey, v cacheVal) { c.put(k, v.tag, v.data, len(v.data)) }

// held recounts what the cache holds, to check its running total.
func (c *renderCache) held() (n int, bytes int64) {
	for _, i := range c.m {
		s := &c.slots[i]
		n++
		bytes += s.key.cost(s.val)
	}
	if q := c.small.len() + c.main.len(); q != n {
		panic(fmt.Sprintf("%d cards in the map, %d in the queues", n, q))
	}
	return n, bytes
}

func TestRenderCacheStaysWithinItsBudget(t *testing.T) {
	c := newRenderCache(1 << 20)
	for i := range 20000 {
		k, v := cacheEntry(i, 100+i%900)
		c.putVal(k, v)
		if c.bytes > c.budget {
			t.Fatalf("after %d puts the cache holds %d bytes, over its budget of %d", i+1, c.bytes, c.budget)
		}
	}
	n, bytes := c.held()
	if bytes != c.bytes || n != len(c.m) {
		t.Fatalf("the cache counts %d bytes in %d entries; its slots hold %d bytes in %d", c.bytes, len(c.m), bytes, n)
	}
	if c.bytes < c.budget*3/4 {
		t.Fatalf("the cache holds only %d of its %d bytes", c.bytes, c.budget)
	}
	if len(c.slots) > 2*n {
		t.Fatalf("%d slots for %d entries: emptied slots are not reused", len(c.slots), n)
	}
}

// A viewer downloading a book larger than the cache must not push out
// the cards other viewers keep reading.
func TestRenderCacheKeepsReadCardsThroughAScan(t *testing.T) {
	c := newRenderCache(1 << 20)
	const hot = 200
	for i := range hot {
		k, v := cacheEntry(i, 1000)
		c.putVal(k, v)
	}
	for round := range 10 {
		for i := range hot {
			k, _ := cacheEntry(i, 0)
			if _, _, ok := c.get(k, "t", nil); !ok && round > 0 {
				t.Fatalf("round %d: card %d, read in every round, was evicted by the scan", round, i)
			}
		}
		for i := range 2000 { // about twice the cache, each card once
			k, v := cacheEntry(100000+round*2000+i, 1000)
			c.putVal(k, v)
		}
	}
}

func TestRenderCacheMissesAnOldRevisionAndReplacesIt(t *testing.T) {
	c := newRenderCache(1 << 20)
	k := cacheKey{name: "a", v4: true}
	c.put(k, "old", make([]byte, 500), 500)
	if _, _, ok := c.get(k, "new", nil); ok {
		t.Fatal("a card of another revision was served from the cache")
	}
	c.put(k, "new", []byte("new card"), 8)
	if data, n, ok := c.get(k, "new", []byte("x")); !ok || string(data) != "xnew card" || n != 8 {
		t.Fatalf("the new revision is not served: %v %q %d", ok, data, n)
	}
	if n, bytes := c.held(); n != 1 || bytes != c.bytes {
		t.Fatalf("after a replacement the cache counts %d bytes; it holds %d in %d entries", c.bytes, bytes, n)
	}
	if _, _, ok := c.get(cacheKey{name: "a"}, "new", nil); ok {
		t.Fatal("the vCard 4.0 rendering was served for 3.0")
	}
}

func TestRenderCacheRefusesAnEntryOfAnEighthOfItsBudget(t *testing.T) {
	c := newRenderCache(1 << 20)
	k, v := cacheEntry(1, 1<<17)
	c.putVal(k, v)
	if _, _, ok := c.get(k, "t", nil); ok || c.bytes != 0 {
		t.Fatalf("a %d-byte card was cached in a %d-byte cache", len(v.data), c.budget)
	}
}

func TestRenderCacheServesConcurrentViewers(t *testing.T) {
	c := newRenderCache(256 << 10)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				k, v := cacheEntry((g*7919+i)%3000, 200)
				if got, _, ok := c.get(k, "t", nil); ok && len(got) != 200 {
					t.Errorf("card %s came back with %d bytes", k.name, len(got))
					return
				}
				c.putVal(k, v)
			}
		}()
	}
	wg.Wait()
	if n, bytes := c.held(); bytes != c.bytes || n != len(c.m) || c.bytes > c.budget {
		t.Fatalf("the cache counts %d bytes in %d entries; it holds %d in %d (budget %d)", c.bytes, len(c.m), bytes, n, c.budget)
	}
}

func TestRenderCacheAdmitsACardOnItsSecondMiss(t *testing.T) {
	c := newRenderCache(1 << 20)
	k := cacheKey{name: "a", xml: true}
	if c.admit(k) {
		t.Fatal("a card was admitted on its first miss")
	}
	if c.admit(cacheKey{name: "a", xml: true, v4: true}) {
		t.Fatal("the other version's miss counted for this one")
	}
	if !c.admit(k) {
		t.Fatal("a card missed twice was not admitted")
	}
}

// A card handed out stays as it was while the cache reuses the buffer of
// an evicted card for the next.
func TestRenderCacheHandsOutCopiesItsRecycledBuffersCannotChange(t *testing.T) {
	c := newRenderCache(1 << 20)
	k := cacheKey{name: "first"}
	c.put(k, "t", []byte("first card"), 10)
	got, _, ok := c.get(k, "t", nil)
	if !ok {
		t.Fatal("the card is not cached")
	}
	for i := range 5000 {
		_, v := cacheEntry(i, 0)
		c.put(cacheKey{name: fmt.Sprint(i)}, "t", append(v.data, "another card, long enough to reuse the buffer"...), 40)
	}
	if string(got) != "first card" {
		t.Fatalf("a card handed out changed to %q once its buffer was reused", got)
	}
	if len(c.spare) == 0 {
		t.Fatal("evicted buffers are not kept for reuse")
	}
}

// A large group card evicted now and then must not leave its buffer to
// person cards, each then charged for the group's room.
func TestRenderCacheHoldsItsBudgetInCardsWhenLargeCardsComeAndGo(t *testing.T) {
	c := newRenderCache(4 << 20)
	person, group := make([]byte, 1500), make([]byte, 60<<10)
	for i := range 20000 {
		if i%200 == 0 {
			c.put(cacheKey{name: fmt.Sprint("group", i)}, "t", group, len(group))
		}
		c.put(cacheKey{name: fmt.Sprint("person", i)}, "t", person, len(person))
	}
	if n := len(c.m); n < 1500 {
		t.Fatalf("a 4 MiB cache of 1,500-byte cards holds %d of them", n)
	}
	if c.spareBytes > c.budget/16 {
		t.Fatalf("%d bytes of spare buffers, over a sixteenth of the budget", c.spareBytes)
	}
}

func TestRenderCacheChargesACardByItsLengthNotItsCallersBuffer(t *testing.T) {
	c := newRenderCache(1 << 20)
	buf := make([]byte, 100, 1<<18) // a report's buffer, grown by an earlier large card
	c.put(cacheKey{name: "a"}, "t", buf, 100)
	if _, _, ok := c.get(cacheKey{name: "a"}, "t", nil); !ok {
		t.Fatal("a 100-byte card in a large buffer was refused as too large")
	}
}
