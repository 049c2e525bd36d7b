package carddav

import (
	"errors"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// Book path segments. macOS Contacts syncs only the first book of a home
// set, in href order, so the company book must sort first.
const (
	bookCompany  = "company"
	bookPersonal = "personal"
)

var errInvalidToken = errors.New("invalid sync token")

// viewer is the authenticated person a request is answered for.
type viewer struct {
	user string // canonical login name, as in paths
	item *store.Item
	view directory.View
	fp   string
	ix   *store.Index
	rd   *store.Reader // the request's reads of cards; closed when it ends
}

// member is one card in a listing or delta; href = book href + seg + suffix.
type member struct {
	seg, suffix string
	etag        []byte // unquoted, valid only during the callback
	deleted     bool
	plain       bool // seg needs no escaping in an href: a card name
}

// path is the member's href segment, as find and get take it.
func (m member) path() string { return m.seg + m.suffix }

// book is one address book as a viewer sees it.
type book interface {
	id() string
	displayName() string
	description() string
	writable() bool
	// token is the current sync token; it doubles as the getctag.
	token() string
	// list calls fn for every member in href order.
	list(fn func(member) bool)
	// find returns a member's current ETag (unquoted).
	find(seg string) (string, bool)
	// get returns a member's bytes in vCard 4.0 (v4) or 3.0, and its ETag.
	get(seg string, v4 bool) ([]byte, string, error)
	// delta reports the changes since tok in revision order and returns the
	// token to continue from; truncated when limit cut it short.
	delta(tok string, limit int, fn func(member)) (next string, truncated bool, err error)
}

// writableBook is a book its viewer writes to: the personal book, and the
// shared lists they edit.
type writableBook interface {
	book
	put(seg string, pc parsedCard, data []byte, cond store.Conditions) (etag string, created bool, err error)
	remove(seg string, cond store.Conditions) error
}

// validBook reports whether a path segment may name a book.
func validBook(b string) bool {
	_, shared := sharedBookID(b)
	return b == bookCompany || b == bookPersonal || shared
}

// book returns one of the viewer's books by id, or nil when they have no
// such book; books lists them in the order clients see them: the Company
// book first (macOS shows only the first), the personal one, then the
// shared lists they edit.
func (s *Server) book(v *viewer, id string) book {
	switch id {
	case bookCompany:
		return &companyBook{s: s, v: v}
	case bookPersonal:
		info, err := s.store.PersonalInfo(v.user)
		if err != nil {
			s.log.Error("reading personal book failed", "user", v.user, "err", err)
		}
		return &personalBook{s: s, v: v, info: info}
	}
	if list, ok := sharedBookID(id); ok && v.view.Editor(list) {
		if l := v.ix.Lists[list]; l != nil {
			return &sharedBook{s: s, v: v, l: l}
		}
	}
	return nil
}

func (s *Server) books(v *viewer) []book {
	out := []book{s.book(v, bookCompany), s.book(v, bookPersonal)}
	for _, id := range v.view.Edits {
		if b := s.book(v, sharedPrefix+id); b != nil {
			out = append(out, b)
		}
	}
	return out
}
