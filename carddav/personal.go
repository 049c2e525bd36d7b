package carddav

import (
	"github.com/orgdav/orgdav/store"
)

// personalBook is the viewer's own writable book, stored verbatim.
type personalBook struct {
	s    *Server
	v    *viewer
	info store.PersonalInfo
}

func (b *personalBook) id() string { return bookPersonal }

func (b *personalBook) displayName() string { return b.s.opt.PersonalBookName }

func (b *personalBook) description() string { return "Your own contacts" }

func (b *personalBook) writable() bool { return true }

func (b *personalBook) token() string {
	return formatToken(b.s.store.Epoch(), bookPersonal, b.info.Rev, "-")
}

func (b *personalBook) list(fn func(member) bool) {
	_ = b.s.store.PersonalList(b.v.user, func(c store.PersonalCard) bool {
		return fn(member{seg: c.Name, etag: []byte(c.ETag)})
	})
}

func (b *personalBook) find(seg string) (string, bool) {
	c, err := b.s.store.PersonalGet(b.v.user, seg)
	if err != nil {
		return "", false
	}
	return c.ETag, true
}

func (b *personalBook) get(seg string, v4 bool) ([]byte, string, error) {
	c, err := b.s.store.PersonalGet(b.v.user, seg)
	if err != nil {
		return nil, "", err
	}
	data := c.Data
	if err := checkText(data); err != nil {
		// Stored before PUT checked its text: served repaired, so the
		// book's responses stay well-formed XML.
		if _, logged := b.s.repaired.LoadOrStore(c.ETag, true); !logged {
			b.s.log.Warn("personal card holds text that XML cannot carry; serving it repaired", "user", b.v.user, "card", seg, "err", err)
		}
		data = repairText(data)
	}
	return convertCard(data, v4), c.ETag, nil
}

func (b *personalBook) delta(tok string, limit int, fn func(member)) (string, bool, error) {
	var since uint64
	if tok != "" {
		t, ok := parseToken(tok)
		if !ok || t.epoch != b.s.store.Epoch() || t.book != bookPersonal || t.fp != "-" || t.rev > b.info.Rev || t.rev < b.info.Horizon {
			return "", false, errInvalidToken
		}
		if t.rev == b.info.Rev {
			return tok, false, nil
		}
		since = t.rev
	}
	last, truncated, err := pageChanges(since, b.info.Rev, tok == "", limit,
		func(since uint64, fn func(store.Change) bool) error {
			return b.s.store.PersonalChanges(b.v.user, since, fn)
		},
		func(c store.Change) (member, bool) {
			if !c.Deleted {
				if etag, ok := b.find(c.Name); ok {
					return member{seg: c.Name, etag: []byte(etag)}, true
				}
			}
			return member{seg: c.Name, deleted: true}, true
		}, fn)
	if err != nil {
		return "", false, err
	}
	return formatToken(b.s.store.Epoch(), bookPersonal, last, "-"), truncated, nil
}

func (b *personalBook) put(seg string, pc parsedCard, data []byte, cond store.Conditions) (string, bool, error) {
	return b.s.store.PersonalPut(b.v.user, seg, pc.uid, data, cond)
}

func (b *personalBook) remove(seg string, cond store.Conditions) error {
	return b.s.store.PersonalDelete(b.v.user, seg, cond)
}
