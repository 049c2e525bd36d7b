package store

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Shared contact lists: contacts an admin curates for an audience. Their
// contacts and group cards live beside the directory cards, in the same
// items, summaries and change index, so ETags, sync tokens and deltas work
// the same way; a list's own settings live in the lists bucket.

// Kinds of the shared lists' cards.
const (
	KindContact   Kind = 'c' // a contact of a list
	KindListGroup Kind = 'l' // a list's contact group card
)

var (
	bLists   = []byte("lists")
	kSumVer  = []byte("summary-version")
	sumVer   = "2"
	listB32  = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	nameHash = "0123456789abcdef"
)

// ListState says whether a list reaches its audience.
type ListState string

const (
	ListEnabled  ListState = "enabled"  // its audience receives it
	ListDraft    ListState = "draft"    // only its editors see it, to prepare it
	ListDisabled ListState = "disabled" // nobody receives it; it is kept
)

// Members names people by stable ids: person keys, group keys (nested
// membership counts) and department names.
type Members struct {
	Users       []string `json:"users,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	Departments []string `json:"departments,omitempty"`
}

// Empty reports whether m names nobody.
func (m Members) Empty() bool { return len(m.Users)+len(m.Groups)+len(m.Departments) == 0 }

// Audience is who receives a list: everyone, or the people, groups and
// departments named, or managers, except those excluded.
type Audience struct {
	Everyone bool `json:"everyone,omitempty"`
	Managers bool `json:"managers,omitempty"` // people with direct reports
	Members
	Except Members `json:"except"`
}

// Live makes a list's members a directory group or department, kept
// current by the directory runs.
type Live struct {
	Group      string `json:"group,omitempty"`      // group key
	Department string `json:"department,omitempty"` // department name
}

// List is a shared contact list's settings.
type List struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	State       ListState `json:"state"`
	Audience    Audience  `json:"audience"`
	Editors     Members   `json:"editors"` // users and groups
	Live        *Live     `json:"live,omitempty"`
	// Version counts every change of the list or its contacts: the
	// API's ETag.
	Version uint64 `json:"version"`
	// Rev is the latest change of the list's cards in the change index.
	Rev     uint64    `json:"rev"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// ListIDLen is the length of list ids: 12 base32 letters, 60 random bits.
const ListIDLen = 12

// Errors of list writes.
var (
	ErrNameTaken = errors.New("another list has this name")
)

func newListID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return listB32.EncodeToString(b[:])[:ListIDLen], nil
}

// ListCardName is the card name of a list's contact: the list id and a
// hash of the contact's id, so names never clash across lists, carry their
// list (for deltas of deleted cards) and reveal nothing of the id.
func ListCardName(list, id string) string {
	h := fnv64(id)
	b := make([]byte, 0, ListIDLen+17)
	b = append(b, list...)
	b = append(b, '-')
	for i := 60; i >= 0; i -= 4 {
		b = append(b, nameHash[(h>>uint(i))&0xf])
	}
	return string(b)
}

// ListOf returns the list a card name belongs to: a list's group card is
// named by the list id, its contacts by ListCardName.
func ListOf(name string) (string, bool) {
	switch {
	case len(name) == ListIDLen && !strings.ContainsAny(name, "-."):
		return name, true
	case len(name) == ListIDLen+17 && name[ListIDLen] == '-':
		return name[:ListIDLen], true
	}
	return "", false
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// List returns a list's settings.
func (s *Store) List(id string) (*List, bool) {
	l, ok := s.Index().Lists[id]
	return l, ok
}

// CreateList stores a new list, assigns its id, and writes its group card.
func (s *Store) CreateList(l *List) error {
	return s.listTx(func(w *cardWriter) error {
		if err := w.nameFree(l.Name, ""); err != nil {
			return err
		}
		id, err := newListID()
		if err != nil {
			return err
		}
		for w.lists[id] != nil {
			if id, err = newListID(); err != nil {
				return err
			}
		}
		l.ID, l.Version, l.Created, l.Updated = id, 1, w.now, w.now
		w.setList(id, l)
		return nil
	})
}

// UpdateList changes a list's settings with fn, if its version is still
// version (0: any).
func (s *Store) UpdateList(id string, version uint64, fn func(*List) error) (*List, error) {
	var out *List
	err := s.listTx(func(w *cardWriter) error {
		cur, err := w.list(id, version)
		if err != nil {
			return err
		}
		l := *cur
		if err := fn(&l); err != nil {
			return err
		}
		if err := w.nameFree(l.Name, id); err != nil {
			return err
		}
		if l.Live != nil && !cur.liveSame(&l) {
			// A list turning live drops its own contacts.
			for _, it := range w.old.ListCards(id) {
				if err := w.remove(it.Name); err != nil {
					return err
				}
			}
		}
		l.ID, l.Version, l.Updated = id, cur.Version+1, w.now
		w.setList(id, &l)
		out = &l
		return nil
	})
	return out, err
}

func (l *List) liveSame(o *List) bool {
	return (l.Live == nil) == (o.Live == nil) && (l.Live == nil || *l.Live == *o.Live)
}

// DeleteList removes a list, its contacts and its group card; everyone who
// received it gets the removals in their next delta.
func (s *Store) DeleteList(id string, version uint64) error {
	return s.listTx(func(w *cardWriter) error {
		if _, err := w.list(id, version); err != nil {
			return err
		}
		for _, it := range w.old.ListCards(id) {
			if err := w.remove(it.Name); err != nil {
				return err
			}
		}
		if _, ok := w.old.Lookup(id); ok {
			if err := w.remove(id); err != nil {
				return err
			}
		}
		w.setList(id, nil)
		return nil
	})
}

// loadLists reads every list's settings.
func loadLists(tx *bolt.Tx) (map[string]*List, error) {
	out := map[string]*List{}
	err := tx.Bucket(bLists).ForEach(func(k, v []byte) error {
		var l List
		if err := json.Unmarshal(v, &l); err != nil {
			return fmt.Errorf("store: list %s: %w", k, err)
		}
		out[l.ID] = &l
		return nil
	})
	return out, err
}

// audienceIndex answers which lists a viewer receives and edits without
// looking at every list: lists by the facts that admit or exclude.
type audienceIndex struct {
	everyone, managers      []string
	byUser, byGroup, byDept map[string][]string
	exUser, exGroup, exDept map[string][]string
	editUser, editGroup     map[string][]string
}

func buildAudience(lists map[string]*List) *audienceIndex {
	a := &audienceIndex{
		byUser: map[string][]string{}, byGroup: map[string][]string{}, byDept: map[string][]string{},
		exUser: map[string][]string{}, exGroup: map[string][]string{}, exDept: map[string][]string{},
		editUser: map[string][]string{}, editGroup: map[string][]string{},
	}
	add := func(m map[string][]string, keys []string, id string) {
		for _, k := range keys {
			m[k] = append(m[k], id)
		}
	}
	for id, l := range lists {
		if l.State != ListDisabled && l.Live == nil {
			add(a.editUser, l.Editors.Users, id)
			add(a.editGroup, l.Editors.Groups, id)
		}
		if l.State != ListEnabled {
			continue
		}
		if l.Audience.Everyone {
			a.everyone = append(a.everyone, id)
		}
		if l.Audience.Managers {
			a.managers = append(a.managers, id)
		}
		add(a.byUser, l.Audience.Users, id)
		add(a.byGroup, l.Audience.Groups, id)
		add(a.byDept, l.Audience.Departments, id)
		add(a.exUser, l.Audience.Except.Users, id)
		add(a.exGroup, l.Audience.Except.Groups, id)
		add(a.exDept, l.Audience.Except.Departments, id)
	}
	return a
}

// ListsFor returns, sorted, the lists a person receives (enabled, in the
// audience, not excluded) and the lists they edit (not disabled, not
// live). A list someone edits reaches them as a book of its own.
func (ix *Index) ListsFor(it *Item) (lists, edits []string) {
	a := ix.audience
	if a == nil || len(ix.Lists) == 0 || it == nil {
		return nil, nil
	}
	// Slices, sorted and compacted, rather than sets: this runs on every
	// request.
	in := append([]string(nil), a.everyone...)
	if it.Manager {
		in = append(in, a.managers...)
	}
	in = append(in, a.byUser[it.Key]...)
	in = append(in, a.byDept[it.Dept]...)
	for _, g := range it.Groups {
		in = append(in, a.byGroup[g]...)
	}
	var out []string
	out = append(out, a.exUser[it.Key]...)
	out = append(out, a.exDept[it.Dept]...)
	for _, g := range it.Groups {
		out = append(out, a.exGroup[g]...)
	}
	edits = append(edits, a.editUser[it.Key]...)
	for _, g := range it.Groups {
		edits = append(edits, a.editGroup[g]...)
	}
	slices.Sort(in)
	slices.Sort(out)
	slices.Sort(edits)
	in, out, edits = slices.Compact(in), slices.Compact(out), slices.Compact(edits)
	for _, id := range in {
		if _, excluded := slices.BinarySearch(out, id); excluded {
			continue
		}
		if _, edited := slices.BinarySearch(edits, id); edited {
			continue
		}
		lists = append(lists, id)
	}
	return lists, edits
}

// RevFor is a viewer's book revision: the directory's, or a later change
// of a list they receive or edit. Changes of other lists do not move it,
// so a token tells nothing of them.
func (ix *Index) RevFor(lists, edits []string) uint64 {
	rev := ix.Rev
	for _, ids := range [][]string{lists, edits} {
		for _, id := range ids {
			if l := ix.Lists[id]; l != nil && l.Rev > rev {
				rev = l.Rev
			}
		}
	}
	return rev
}
