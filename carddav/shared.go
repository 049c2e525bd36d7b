package carddav

import (
	"sort"
	"strings"

	"github.com/orgdav/orgdav/store"
)

// sharedPrefix starts the path segment of a shared list's book.
const sharedPrefix = "shared-"

// sharedBook is a shared list as its editors see it: a writable book of the
// list's contacts, each stored as the editor or the import gave it. For
// them the list lives here only, not in their Company book, so every
// client shows one card per contact.
type sharedBook struct {
	s *Server
	v *viewer
	l *store.List
}

func (b *sharedBook) id() string { return sharedPrefix + b.l.ID }

func (b *sharedBook) displayName() string { return b.l.Name }

func (b *sharedBook) description() string {
	if b.l.Description != "" {
		return b.l.Description
	}
	return "Shared contacts you edit"
}

func (b *sharedBook) writable() bool { return true }

func (b *sharedBook) token() string {
	return formatToken(b.s.store.Epoch(), b.id(), b.l.Rev, "-")
}

// contact finds a contact by its id, the book's path segment; contacts
// that refer to a directory person are that person's card in the Company
// book, not here.
func (b *sharedBook) contact(seg string) (*store.Item, bool) {
	it, ok := b.v.ix.Lookup(store.ListCardName(b.l.ID, seg))
	if !ok || it.Kind != store.KindContact || it.Key != seg || it.Ref {
		return nil, false
	}
	return it, true
}

func (b *sharedBook) list(fn func(member) bool) {
	cards := b.v.ix.ListCards(b.l.ID)
	items := make([]*store.Item, 0, len(cards))
	for i := range cards {
		if it := &cards[i]; !it.Ref {
			items = append(items, it)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	for _, it := range items {
		if !fn(member{seg: it.Key, etag: []byte(it.Tag)}) {
			return
		}
	}
}

func (b *sharedBook) find(seg string) (string, bool) {
	it, ok := b.contact(seg)
	if !ok {
		return "", false
	}
	return it.Tag, true
}

func (b *sharedBook) get(seg string, v4 bool) ([]byte, string, error) {
	if _, ok := b.contact(seg); !ok {
		return nil, "", store.ErrNotFound
	}
	c, err := b.s.store.Contact(b.l.ID, seg)
	if err != nil {
		return nil, "", err
	}
	return convertCard(c.Card, v4), c.ETag, nil
}

func (b *sharedBook) delta(tok string, limit int, fn func(member)) (string, bool, error) {
	rev := b.l.Rev
	var since uint64
	if tok != "" {
		t, ok := parseToken(tok)
		if !ok || t.epoch != b.s.store.Epoch() || t.book != b.id() || t.fp != "-" || t.rev > rev || t.rev < b.v.ix.Horizon {
			return "", false, errInvalidToken
		}
		if t.rev == rev {
			return tok, false, nil
		}
		since = t.rev
	}
	last, truncated, err := pageChanges(since, rev, tok == "", limit, b.s.store.Changes, func(c store.Change) (member, bool) {
		if list, ok := store.ListOf(c.Name); !ok || list != b.l.ID || c.Name == b.l.ID {
			return member{}, false // another book's card, or the list's group card
		}
		it, exists := b.v.ix.Lookup(c.Name)
		switch {
		case exists && it.Rev != c.Rev:
			return member{}, false // superseded by a later change
		case c.Deleted:
			return member{seg: c.ID, deleted: true}, true
		case it.Ref:
			return member{seg: it.Key, deleted: true}, true // became a reference
		}
		return member{seg: it.Key, etag: []byte(it.Tag)}, true
	}, fn)
	if err != nil {
		return "", false, err
	}
	return formatToken(b.s.store.Epoch(), b.id(), last, "-"), truncated, nil
}

func (b *sharedBook) put(seg string, pc parsedCard, data []byte, cond store.Conditions) (string, bool, error) {
	return b.s.store.PutContact(store.Contact{List: b.l.ID, ID: seg, UID: pc.uid, Emails: pc.emails, Card: data}, cond)
}

func (b *sharedBook) remove(seg string, cond store.Conditions) error {
	return b.s.store.DeleteContact(b.l.ID, seg, cond)
}

// sharedBookID returns the list id a book segment names.
func sharedBookID(seg string) (string, bool) {
	id, ok := strings.CutPrefix(seg, sharedPrefix)
	if !ok || len(id) != store.ListIDLen || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		return "", false
	}
	return id, true
}
