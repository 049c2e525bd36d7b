package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
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

func (s *Store) rebuildIndex() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rebuildIndexLocked()
}

// rebuildIndexLocked reads every card's summary. It decodes each entry
// fully once to learn which fields it has; strings shared by many cards
// (departments, group keys) are interned to keep the index small.
func (s *Store) rebuildIndexLocked() error {
	ix := &Index{byName: map[string]int32{}, byUser: map[string]int32{}, byDept: map[string][]int32{}, byGroup: map[string][]int32{}}
	intern := map[string]string{}
	in := func(s string) string {
		if v, ok := intern[s]; ok {
			return v
		}
		intern[s] = s
		return s
	}
	prev := s.idx.Load()
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		ix.Rev = getU64(meta, kDirRev)
		ix.Horizon = getU64(meta, kHorizon)
		n := tx.Bucket(bItems).Stats().KeyN
		ix.Items = make([]Item, 0, n)
		return tx.Bucket(bItems).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("store: item %s: %w", k, err)
			}
			name := string(k)
			// An unchanged card keeps its summary from the previous index.
			if prev != nil {
				if old, ok := prev.Lookup(name); ok && old.Rev == r.rev {
					ix.Items = append(ix.Items, *old)
					return nil
				}
			}
			it := Item{Name: name, Kind: r.kind, Rev: r.rev, hash: r.hash, Tag: hex.EncodeToString(r.hash[:10])}
			switch r.kind {
			case KindPerson:
				var e directory.Entry
				if err := json.Unmarshal(r.data, &e); err != nil {
					return fmt.Errorf("store: item %s: %w", k, err)
				}
				it.Key = e.Key
				it.Username = e.Username
				it.Dept = in(e.Department)
				it.Manager = e.IsManager
				it.Present = directory.Present(&e)
				if len(e.Groups) > 0 {
					it.Groups = make([]string, len(e.Groups))
					for i, g := range e.Groups {
						it.Groups[i] = in(g)
					}
				}
			case KindGroup:
				var g struct {
					Key string `json:"key"`
				}
				if err := json.Unmarshal(r.data, &g); err != nil {
					return fmt.Errorf("store: item %s: %w", k, err)
				}
				it.Key = g.Key
			default:
				return fmt.Errorf("store: item %s: unknown kind %q", k, r.kind)
			}
			ix.Items = append(ix.Items, it)
			return nil
		})
	})
	if err != nil {
		return err
	}
	// bbolt iterates keys in byte order, which is the order listings use.
	if !sort.SliceIsSorted(ix.Items, func(i, j int) bool { return ix.Items[i].Name < ix.Items[j].Name }) {
		return fmt.Errorf("store: items out of order")
	}
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
	s.idx.Store(ix)
	return nil
}
