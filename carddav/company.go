package carddav

import (
	"encoding/hex"
	"strings"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// companyBook is the merged directory book: every published person and
// group, each person's fields filtered for the viewer.
type companyBook struct {
	s *Server
	v *viewer

	// The last card looked up: a report finds a card, then renders it.
	lastSeg  string
	lastItem *store.Item
}

func (b *companyBook) id() string { return bookCompany }

func (b *companyBook) displayName() string { return b.s.opt.CompanyBookName }

func (b *companyBook) description() string {
	return "Everyone in the directory, with the details you may see"
}

func (b *companyBook) writable() bool { return false }

func (b *companyBook) token() string {
	return formatToken(b.s.store.Epoch(), bookCompany, b.rev(), b.v.fp)
}

// rev is the book's revision for this viewer: changes of lists they do not
// receive do not move it, so their token and ctag tell nothing of them.
func (b *companyBook) rev() uint64 { return b.v.ix.RevFor(b.v.view.Lists, b.v.view.Edits) }

// shows reports whether a card is in the Company book of a view: every
// directory card; a shared list's contacts and group card for the lists
// the view receives (not those it edits: they are a book of their own),
// except contacts that are a directory person, who is their card.
func shows(v *directory.View, it *store.Item) bool {
	switch it.Kind {
	case store.KindContact:
		return !it.Ref && it.Dup == "" && v.Receives(it.List)
	case store.KindListGroup:
		return v.Receives(it.List)
	}
	return true
}

// mask is the set of fields the viewer sees of it, limited to the fields it
// has, so that variants that render the same bytes share one ETag.
func (b *companyBook) mask(it *store.Item) directory.FieldSet {
	return maskFor(b.s.rules, &b.v.view, it)
}

func maskFor(rules *directory.Rules, v *directory.View, it *store.Item) directory.FieldSet {
	if it.Kind != store.KindPerson {
		return 0
	}
	return rules.Mask(directory.Relate(v, it.Dept, it.Groups)) & it.Present
}

// appendETag appends the ETag of an item as seen with mask: the content
// hash plus the mask, so one revision has one ETag per variant, the same
// for 3.0 and 4.0.
func appendETag(dst []byte, it *store.Item, mask directory.FieldSet) []byte {
	dst = append(dst, it.Tag...)
	dst = append(dst, '-')
	var m [4]byte
	m[0], m[1], m[2], m[3] = byte(mask>>24), byte(mask>>16), byte(mask>>8), byte(mask)
	return hex.AppendEncode(dst, m[:])
}

// list walks the directory's cards in href order, then each received
// list's group card and contacts.
func (b *companyBook) list(fn func(member) bool) {
	buf := make([]byte, 0, 64)
	emit := func(it *store.Item) bool {
		if !shows(&b.v.view, it) {
			return true
		}
		buf = appendETag(buf[:0], it, b.mask(it))
		return fn(member{seg: it.Name, suffix: ".vcf", etag: buf, plain: true})
	}
	items := b.v.ix.Items
	for i := range items {
		if !emit(&items[i]) {
			return
		}
	}
	for _, id := range b.v.view.Lists {
		if g, ok := b.v.ix.ListGroupCard(id); ok && !emit(g) {
			return
		}
		cards := b.v.ix.ListCards(id)
		for i := range cards {
			if !emit(&cards[i]) {
				return
			}
		}
	}
}

func (b *companyBook) item(seg string) (*store.Item, bool) {
	if b.lastItem != nil && seg == b.lastSeg {
		return b.lastItem, true
	}
	name, ok := strings.CutSuffix(seg, ".vcf")
	if !ok {
		return nil, false
	}
	it, ok := b.v.ix.Lookup(name)
	if !ok || !shows(&b.v.view, it) {
		return nil, false
	}
	b.lastSeg, b.lastItem = seg, it
	return it, true
}

func (b *companyBook) find(seg string) (string, bool) {
	e, ok := b.findETag(seg, nil)
	return string(e), ok
}

func (b *companyBook) findETag(seg string, dst []byte) ([]byte, bool) {
	it, ok := b.item(seg)
	if !ok {
		return dst, false
	}
	return appendETag(dst, it, b.mask(it)), true
}

func (b *companyBook) get(seg string, v4 bool) ([]byte, string, error) {
	it, ok := b.item(seg)
	if !ok {
		return nil, "", store.ErrNotFound
	}
	mask := b.mask(it)
	data, err := b.s.render(b.v.rd, it, mask, v4)
	if err != nil {
		return nil, "", err
	}
	return data, string(appendETag(nil, it, mask)), nil
}

// getXML is get escaped for a multistatus, from the render cache. The
// ETag is the member's already: every listing and lookup gives it.
func (b *companyBook) getXML(seg string, p *cardPlan) ([]byte, int, error) {
	it, ok := b.item(seg)
	if !ok {
		return nil, 0, store.ErrNotFound
	}
	return b.s.renderXML(b.v.rd, it, b.mask(it), p)
}

func (b *companyBook) delta(tok string, limit int, fn func(member)) (string, bool, error) {
	ix := b.v.ix
	if tok == "" {
		return b.initial(limit, fn)
	}
	t, ok := parseToken(tok)
	if !ok || t.epoch != b.s.store.Epoch() || t.book != bookCompany || t.rev < ix.Horizon {
		return "", false, errInvalidToken
	}
	rev := b.rev()
	// A token up to the viewer's revision is one this book gave; only a
	// later one (from a view change's answer) needs the store's latest
	// revision, a read the usual no-change poll is spared.
	top := rev
	if t.rev > rev || t.fp != b.v.fp {
		top = max(rev, b.s.store.Rev())
	}
	if t.rev > top {
		return "", false, errInvalidToken
	}
	if t.fp == b.v.fp && t.rev >= rev {
		return tok, false, nil
	}
	reported := map[string]bool{}
	old := &b.v.view
	// The scan reaches the store's latest change when the view changed:
	// the removals of a list the viewer no longer receives (deleted,
	// disabled, audience changed) may be later than anything they receive.
	upto := rev
	if t.fp != b.v.fp {
		saved, found, err := b.s.store.View(t.fp)
		if err != nil {
			return "", false, err
		}
		if !found {
			return "", false, errInvalidToken
		}
		old = &saved
		upto = top
		affected := b.viewChanges(old)
		if limit > 0 && len(affected) > limit {
			// The whole view change must reach the client in one answer;
			// a client that limits so hard resyncs from scratch instead.
			return "", false, errInvalidToken
		}
		buf := make([]byte, 0, 64)
		for _, it := range affected {
			reported[it.Name] = true
			if !shows(&b.v.view, it) {
				fn(member{seg: it.Name, suffix: ".vcf", deleted: true})
				continue
			}
			buf = appendETag(buf[:0], it, b.mask(it))
			fn(member{seg: it.Name, suffix: ".vcf", etag: buf, plain: true})
		}
		if limit > 0 {
			limit -= len(affected)
			if limit == 0 {
				limit = -1
			}
		}
	}
	last := t.rev
	newest := rev // the token's revision: never one of another list's changes
	truncated := false
	buf := make([]byte, 0, 64)
	n := 0
	err := b.s.store.Changes(t.rev, func(c store.Change) bool {
		if c.Rev > upto {
			return false
		}
		if limit != 0 && (limit < 0 || n >= limit) {
			truncated = true
			return false
		}
		last = c.Rev
		if reported[c.Name] {
			return true
		}
		it, exists := ix.Lookup(c.Name)
		if exists && it.Rev != c.Rev {
			return true
		}
		// A shared list's card concerns only viewers who receive or
		// received the list; anyone else learns nothing of it.
		if list, ok := store.ListOf(c.Name); ok && !b.v.view.Receives(list) && !old.Receives(list) {
			return true
		}
		switch {
		case exists && shows(&b.v.view, it):
			buf = appendETag(buf[:0], it, b.mask(it))
			fn(member{seg: it.Name, suffix: ".vcf", etag: buf, plain: true})
		default:
			fn(member{seg: c.Name, suffix: ".vcf", deleted: true})
		}
		n++
		newest = max(newest, c.Rev)
		return true
	})
	if err != nil {
		return "", false, err
	}
	if !truncated {
		last = newest
	}
	return formatToken(b.s.store.Epoch(), bookCompany, last, b.v.fp), truncated, nil
}

// initial answers an empty token: every member, no deletions. Without a
// limit it walks the index in href order; with one it walks the change
// index in revision order so the returned token can continue the listing.
func (b *companyBook) initial(limit int, fn func(member)) (string, bool, error) {
	ix := b.v.ix
	if limit == 0 {
		b.list(func(m member) bool { fn(m); return true })
		return b.token(), false, nil
	}
	buf := make([]byte, 0, 64)
	rev := b.rev()
	last, truncated, err := pageChanges(0, rev, true, limit, b.s.store.Changes, func(c store.Change) (member, bool) {
		it, exists := ix.Lookup(c.Name)
		if c.Deleted || !exists || it.Rev != c.Rev || !shows(&b.v.view, it) {
			return member{deleted: true}, true // not listed; the next page starts after it
		}
		buf = appendETag(buf[:0], it, b.mask(it))
		return member{seg: it.Name, suffix: ".vcf", etag: buf, plain: true}, true
	}, fn)
	if err != nil {
		return "", false, err
	}
	return formatToken(b.s.store.Epoch(), bookCompany, last, b.v.fp), truncated, nil
}

// viewChanges returns the cards whose rendering or presence differs
// between the viewer's old and current view. Only cards the changed facts
// touch are examined: the departments left and joined, the groups left
// and joined, everyone when the manager role changed and a rule uses it,
// and the lists received before or now, not both.
func (b *companyBook) viewChanges(old *directory.View) []*store.Item {
	ix := b.v.ix
	cur := &b.v.view
	var cand []*store.Item
	addPos := func(pos []int32) {
		for _, i := range pos {
			cand = append(cand, &ix.Items[i])
		}
	}
	if old.IsManager != cur.IsManager && b.s.rules.Uses(directory.Managers) {
		cand = make([]*store.Item, 0, len(ix.Items))
		for i := range ix.Items {
			cand = append(cand, &ix.Items[i])
		}
	} else {
		if old.Department != cur.Department {
			addPos(ix.InDepartment(old.Department))
			addPos(ix.InDepartment(cur.Department))
		}
		for _, g := range symmetricDifference(old.Groups, cur.Groups) {
			addPos(ix.InGroup(g))
		}
	}
	for _, l := range symmetricDifference(old.Lists, cur.Lists) {
		if g, ok := ix.ListGroupCard(l); ok {
			cand = append(cand, g)
		}
		cards := ix.ListCards(l)
		for i := range cards {
			cand = append(cand, &cards[i])
		}
	}
	seen := make(map[*store.Item]bool, len(cand))
	var out []*store.Item
	for _, it := range cand {
		if seen[it] {
			continue
		}
		seen[it] = true
		was, is := shows(old, it), shows(cur, it)
		if was != is || is && maskFor(b.s.rules, old, it) != maskFor(b.s.rules, cur, it) {
			out = append(out, it)
		}
	}
	return out
}

func symmetricDifference(a, b []string) []string {
	in := map[string]int{}
	for _, x := range a {
		in[x] |= 1
	}
	for _, x := range b {
		in[x] |= 2
	}
	var out []string
	for k, v := range in {
		if v != 3 {
			out = append(out, k)
		}
	}
	return out
}
