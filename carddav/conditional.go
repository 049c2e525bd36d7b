package carddav

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/orgdav/orgdav/store"
)

// tagList is an If-Match or If-None-Match condition (RFC 9110 13.1.1,
// 13.1.2): "*" or a list of entity tags.
type tagList struct {
	any  bool
	tags []entityTag
}

type entityTag struct {
	weak   bool
	opaque string // without the quotes
}

// maxTags bounds the entity tags of one header; clients send one.
const maxTags = 64

// parseTagList parses the header's values; no header is no condition
// (nil). A malformed header is an error: a client that meant a condition
// must not get an unconditional write.
func parseTagList(values []string) (*tagList, error) {
	h := strings.Join(values, ",")
	if strings.TrimSpace(h) == "" {
		if len(values) > 0 {
			return nil, errors.New("empty")
		}
		return nil, nil
	}
	if strings.TrimSpace(h) == "*" {
		return &tagList{any: true}, nil
	}
	l := &tagList{}
	for rest := h; ; {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		if rest[0] == ',' { // empty list elements are allowed
			rest = rest[1:]
			continue
		}
		var t entityTag
		if strings.HasPrefix(rest, "W/") {
			t.weak, rest = true, rest[2:]
		}
		if rest == "" || rest[0] != '"' {
			return nil, fmt.Errorf("%q: an entity tag is a quoted string, e.g. \"abc\" or W/\"abc\"", h)
		}
		end := 1
		for end < len(rest) && rest[end] != '"' {
			if c := rest[end]; c < 0x21 || c == 0x7f {
				return nil, fmt.Errorf("%q: a control character or space inside an entity tag", h)
			}
			end++
		}
		if end == len(rest) {
			return nil, fmt.Errorf("%q: an entity tag's closing quote is missing", h)
		}
		t.opaque, rest = rest[1:end], strings.TrimLeft(rest[end+1:], " \t")
		if rest != "" && rest[0] != ',' {
			return nil, fmt.Errorf("%q: entity tags are separated by commas", h)
		}
		if l.tags = append(l.tags, t); len(l.tags) > maxTags {
			return nil, fmt.Errorf("more than %d entity tags", maxTags)
		}
	}
	if len(l.tags) == 0 {
		return nil, fmt.Errorf("%q: no entity tag", h)
	}
	return l, nil
}

// matchStrong is If-Match's test: a current representation whose tag is
// in the list by strong comparison (a weak tag never matches).
func (l *tagList) matchStrong(exists bool, etag string) bool { return l.match(exists, etag, true) }

// matchWeak is If-None-Match's test, by weak comparison: true when the
// condition fails (the tag is current, or "*" and the card exists).
func (l *tagList) matchWeak(exists bool, etag string) bool { return l.match(exists, etag, false) }

func (l *tagList) match(exists bool, etag string, strong bool) bool {
	if !exists {
		return false
	}
	if l.any {
		return true
	}
	for _, t := range l.tags {
		if t.opaque == etag && !(strong && t.weak) {
			return true
		}
	}
	return false
}

// requestConditions reads a request's If-Match and If-None-Match.
func requestConditions(r *http.Request) (ifMatch, ifNoneMatch *tagList, err error) {
	if ifMatch, err = parseTagList(r.Header.Values("If-Match")); err != nil {
		return nil, nil, fmt.Errorf("If-Match: %w", err)
	}
	if ifNoneMatch, err = parseTagList(r.Header.Values("If-None-Match")); err != nil {
		return nil, nil, fmt.Errorf("If-None-Match: %w", err)
	}
	return ifMatch, ifNoneMatch, nil
}

// writeConditions turns a write's headers into the store's preconditions,
// checked in the write's own transaction.
func writeConditions(r *http.Request) (store.Conditions, error) {
	im, inm, err := requestConditions(r)
	if err != nil || (im == nil && inm == nil) {
		return store.Conditions{}, err
	}
	return store.Conditions{Allow: func(exists bool, etag string) bool {
		return (im == nil || im.matchStrong(exists, etag)) && (inm == nil || !inm.matchWeak(exists, etag))
	}}, nil
}

func badCondition(w http.ResponseWriter, err error) {
	http.Error(w, "Bad request: "+err.Error(), http.StatusBadRequest)
}
