package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/orgdav/orgdav/directory"
	bolt "go.etcd.io/bbolt"
)

// Item is the resident summary of one directory card: what listings,
// ETags and visibility need, without the card's data.
type Item struct {
	Name     string // card UID and href base
	Key      string // entry key (source/p/id or source/g/id)
	Kind     Kind
	Rev      uint64
	hash     [16]byte
	Tag      string // hex of the content hash; the ETag prefix
	Username string
	Dept     string
	Groups   []string
	Present  directory.FieldSet
	Manager  bool
}

// Index is an immutable snapshot of the directory cards.
type Index struct {
	Rev     uint64 // the directory book's revision: its ctag
	Horizon uint64 // oldest revision a sync token may carry
	Items   []Item // sorted by Name
	People  int
	Groups  int

	byName  map[string]int32
	byUser  map[string]int32
	byDept  map[string][]int32
	byGroup map[string][]int32
}

// Lookup finds a card by name.
func (ix *Index) Lookup(name string) (*Item, bool) {
	i, ok := ix.byName[name]
	if !ok {
		return nil, false
	}
	return &ix.Items[i], true
}

// User finds the person card of a login name (case-insensitive).
func (ix *Index) User(username string) (*Item, bool) {
	i, ok := ix.byUser[strings.ToLower(username)]
	if !ok {
		return nil, false
	}
	return &ix.Items[i], true
}

// InDepartment returns the positions in Items of a department's people.
func (ix *Index) InDepartment(dept string) []int32 { return ix.byDept[dept] }

// InGroup returns the positions in Items of a group's people.
func (ix *Index) InGroup(key string) []int32 { return ix.byGroup[key] }

// personItem summarises a person entry for the index.
func personItem(name string, rev uint64, hash [16]byte, e *directory.Entry) Item {
	return Item{Name: name, Key: e.Key, Kind: KindPerson, Rev: rev, hash: hash, Tag: hex.EncodeToString(hash[:10]),
		Username: e.Username, Dept: e.Department, Groups: e.Groups, Manager: e.IsManager, Present: directory.Present(e)}
}

func groupItem(name string, rev uint64, hash [16]byte, g *directory.GroupEntry) Item {
	return Item{Name: name, Key: g.Key, Kind: KindGroup, Rev: rev, hash: hash, Tag: hex.EncodeToString(hash[:10])}
}

// rebuildIndex reads every card's summary from the database, at open.
// Strings shared by many cards (departments, group keys) are interned to
// keep the resident index small.
func (s *Store) rebuildIndex() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	intern := map[string]string{}
	in := func(s string) string {
		if v, ok := intern[s]; ok {
			return v
		}
		intern[s] = s
		return s
	}
	var items []Item
	var rev, horizon uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		rev, horizon = getU64(meta, kDirRev), getU64(meta, kHorizon)
		return tx.Bucket(bItems).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("store: item %s: %w", k, err)
			}
			switch r.kind {
			case KindPerson:
				var e directory.Entry
				if err := json.Unmarshal(r.data, &e); err != nil {
					return fmt.Errorf("store: item %s: %w", k, err)
				}
				e.Department = in(e.Department)
				for i, g := range e.Groups {
					e.Groups[i] = in(g)
				}
				items = append(items, personItem(string(k), r.rev, r.hash, &e))
			case KindGroup:
				var g directory.GroupEntry
				if err := json.Unmarshal(r.data, &g); err != nil {
					return fmt.Errorf("store: item %s: %w", k, err)
				}
				items = append(items, groupItem(string(k), r.rev, r.hash, &g))
			default:
				return fmt.Errorf("store: item %s: unknown kind %q", k, r.kind)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	// bbolt iterates keys in byte order, the order listings use.
	s.idx.Store(finishIndex(items, rev, horizon))
	return nil
}

// patchIndex derives the next index from the previous one and an apply's
// changes (upserts sorted by name), without reading the database.
func patchIndex(old *Index, upserts []Item, removed map[string]bool, rev, horizon uint64) *Index {
	items := make([]Item, 0, len(old.Items)+len(upserts)-len(removed))
	j := 0
	for i := range old.Items {
		it := &old.Items[i]
		for j < len(upserts) && upserts[j].Name < it.Name {
			items = append(items, upserts[j])
			j++
		}
		switch {
		case j < len(upserts) && upserts[j].Name == it.Name:
			items = append(items, upserts[j])
			j++
		case !removed[it.Name]:
			items = append(items, *it)
		}
	}
	items = append(items, upserts[j:]...)
	return finishIndex(items, rev, horizon)
}

func finishIndex(items []Item, rev, horizon uint64) *Index {
	ix := &Index{Rev: rev, Horizon: horizon, Items: items,
		byName: make(map[string]int32, len(items)), byUser: map[string]int32{}, byDept: map[string][]int32{}, byGroup: map[string][]int32{}}
	for i := range ix.Items {
		it := &ix.Items[i]
		ix.byName[it.Name] = int32(i)
		if it.Kind == KindGroup {
			ix.Groups++
			continue
		}
		ix.People++
		if it.Username != "" {
			ix.byUser[strings.ToLower(it.Username)] = int32(i)
		}
		if it.Dept != "" {
			ix.byDept[it.Dept] = append(ix.byDept[it.Dept], int32(i))
		}
		for _, g := range it.Groups {
			ix.byGroup[g] = append(ix.byGroup[g], int32(i))
		}
	}
	return ix
}
