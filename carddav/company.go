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
}

func (b *companyBook) id() string { return bookCompany }

func (b *companyBook) displayName() string { return b.s.opt.CompanyBookName }

func (b *companyBook) description() string {
	return "Everyone in the directory, with the details you may see"
}

func (b *companyBook) writable() bool { return false }

func (b *companyBook) token() string {
	return formatToken(b.s.store.Epoch(), bookCompany, b.v.ix.Rev, b.v.fp)
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

func (b *companyBook) list(fn func(member) bool) {
	buf := make([]byte, 0, 64)
	items := b.v.ix.Items
	for i := range items {
		it := &items[i]
		buf = appendETag(buf[:0], it, b.mask(it))
		if !fn(member{seg: it.Name, suffix: ".vcf", etag: buf}) {
			return
		}
	}
}

func (b *companyBook) item(seg string) (*store.Item, bool) {
	name, ok := strings.CutSuffix(seg, ".vcf")
	if !ok {
		return nil, false
	}
	return b.v.ix.Lookup(name)
}

func (b *companyBook) find(seg string) (string, bool) {
	it, ok := b.item(seg)
	if !ok {
		return "", false
	}
	return string(appendETag(nil, it, b.mask(it))), true
}

func (b *companyBook) get(seg string, v4 bool) ([]byte, string, error) {
	it, ok := b.item(seg)
	if !ok {
		return nil, "", store.ErrNotFound
	}
	mask := b.mask(it)
	data, err := b.s.render(it, mask, v4)
	if err != nil {
		return nil, "", err
	}
	return data, string(appendETag(nil, it, mask)), nil
}

func (b *companyBook) delta(tok string, limit int, fn func(member)) (string, bool, error) {
	ix := b.v.ix
	if tok == "" {
		return b.initial(limit, fn)
	}
	t, ok := parseToken(tok)
	if !ok || t.epoch != b.s.store.Epoch() || t.book != bookCompany || t.rev > ix.Rev || t.rev < ix.Horizon {
		return "", false, errInvalidToken
	}
	if t.rev == ix.Rev && t.fp == b.v.fp {
		return tok, false, nil
	}
	reported := map[string]bool{}
	if t.fp != b.v.fp {
		old, found, err := b.s.store.View(t.fp)
		if err != nil {
			return "", false, err
		}
		if !found {
			return "", false, errInvalidToken
		}
		affected := b.viewChanges(&old)
		if limit > 0 && len(affected) > limit {
			// The whole view change must reach the client in one answer;
			// a client that limits so hard resyncs from scratch instead.
			return "", false, errInvalidToken
		}
		buf := make([]byte, 0, 64)
		for _, i := range affected {
			it := &ix.Items[i]
			reported[it.Name] = true
			buf = appendETag(buf[:0], it, b.mask(it))
			fn(member{seg: it.Name, suffix: ".vcf", etag: buf})
		}
		if limit > 0 {
			limit -= len(affected)
			if limit == 0 {
				limit = -1
			}
		}
	}
	last := t.rev
	truncated := false
	buf := make([]byte, 0, 64)
	n := 0
	err := b.s.store.Changes(t.rev, func(c store.Change) bool {
		if c.Rev > ix.Rev {
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
		switch {
		case c.Deleted && !exists:
			n++
			fn(member{seg: c.Name, suffix: ".vcf", deleted: true})
		case !c.Deleted && exists && it.Rev == c.Rev:
			n++
			buf = appendETag(buf[:0], it, b.mask(it))
			fn(member{seg: it.Name, suffix: ".vcf", etag: buf})
		}
		return true
	})
	if err != nil {
		return "", false, err
	}
	if !truncated {
		last = ix.Rev
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
	var last uint64
	truncated := false
	n := 0
	buf := make([]byte, 0, 64)
	err := b.s.store.Changes(0, func(c store.Change) bool {
		if c.Rev > ix.Rev {
			return false
		}
		it, exists := ix.Lookup(c.Name)
		if c.Deleted || !exists || it.Rev != c.Rev {
			last = c.Rev
			return true
		}
		if n >= limit {
			truncated = true
			return false
		}
		n++
		last = c.Rev
		buf = appendETag(buf[:0], it, b.mask(it))
		fn(member{seg: it.Name, suffix: ".vcf", etag: buf})
		return true
	})
	if err != nil {
		return "", false, err
	}
	if !truncated {
		last = ix.Rev
	}
	return formatToken(b.s.store.Epoch(), bookCompany, last, b.v.fp), truncated, nil
}

// viewChanges returns the positions of the people whose rendering differs
// between the viewer's old and current view. Only people the changed facts
// touch are examined: the departments left and joined, the groups left and
// joined, and everyone when the manager role changed and a rule uses it.
func (b *companyBook) viewChanges(old *directory.View) []int32 {
	ix := b.v.ix
	cur := &b.v.view
	var cand []int32
	if old.IsManager != cur.IsManager && b.s.rules.Uses(directory.Managers) {
		cand = make([]int32, 0, len(ix.Items))
		for i := range ix.Items {
			cand = append(cand, int32(i))
		}
	} else {
		if old.Department != cur.Department {
			cand = append(cand, ix.InDepartment(old.Department)...)
			cand = append(cand, ix.InDepartment(cur.Department)...)
		}
		for _, g := range symmetricDifference(old.Groups, cur.Groups) {
			cand = append(cand, ix.InGroup(g)...)
		}
	}
	seen := make(map[int32]bool, len(cand))
	var out []int32
	for _, i := range cand {
		if seen[i] {
			continue
		}
		seen[i] = true
		it := &ix.Items[i]
		if maskFor(b.s.rules, old, it) != maskFor(b.s.rules, cur, it) {
			out = append(out, i)
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
