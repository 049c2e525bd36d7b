package carddav

import (
	"strconv"
	"strings"

	"github.com/orgdav/orgdav/store"
)

const tokenPrefix = "urn:x-orgdav:sync/"

// formatToken builds a sync token URI: it holds ':' and '/' (Evolution
// ignores tokens without them) and nothing that needs XML escaping
// (Outlook pastes it into XML unescaped).
func formatToken(epoch, book string, rev uint64, fp string) string {
	return tokenPrefix + epoch + "/" + book + "/" + strconv.FormatUint(rev, 10) + "/" + fp
}

type parsedToken struct {
	epoch, book, fp string
	rev             uint64
}

func parseToken(s string) (parsedToken, bool) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return parsedToken{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return parsedToken{}, false
	}
	rev, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return parsedToken{}, false
	}
	return parsedToken{epoch: parts[0], book: parts[1], rev: rev, fp: parts[3]}, true
}

// pageChanges reports a book's changes after since up to upto, in
// revision order: toMember says which changes are the book's and as what
// member; a first listing leaves deletions out; limit (when > 0) cuts the
// answer, and the revision returned is where the next page starts.
func pageChanges(since, upto uint64, first bool, limit int, scan func(since uint64, fn func(store.Change) bool) error,
	toMember func(store.Change) (member, bool), fn func(member)) (last uint64, truncated bool, err error) {
	last = since
	n := 0
	err = scan(since, func(c store.Change) bool {
		if c.Rev > upto {
			return false
		}
		m, ok := toMember(c)
		if !ok {
			return true
		}
		if m.deleted && first {
			last = c.Rev
			return true
		}
		if limit > 0 && n >= limit {
			truncated = true
			return false
		}
		n++
		last = c.Rev
		fn(m)
		return true
	})
	if err == nil && !truncated {
		last = upto
	}
	return last, truncated, err
}
