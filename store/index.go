package store

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
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
	// Emails are a person's or a shared contact's addresses, lower-cased:
	// a contact with a directory person's address is that person.
	Emails []string
	// List is the shared list a contact or list group card belongs to.
	List string
	// Dup is the directory card a shared contact is: the person it refers
	// to, or the one with its address. Such a contact is never a card of
	// its own in a Company book.
	Dup string
	// Ref marks a contact that refers to a directory person rather than
	// holding a card.
	Ref bool
}

// Index is an immutable snapshot of the cards: the directory's, and the
// shared lists' kept apart per list, so a list's change costs its size.
type Index struct {
	Rev     uint64 // the directory book's revision: its ctag
	Horizon uint64 // oldest revision a sync token may carry
	Items   []Item // the directory's cards, sorted by Name
	People  int
	Groups  int
	// Contacts counts the shared contacts; Lists holds every shared list
	// by id, with the revision of its cards' latest change.
	Contacts int
	Lists    map[string]*List
	audience *audienceIndex
	cards    map[string]*listCards // each list's cards, by list id

	byName  map[string]int32
	byUser  map[string]int32
	byDept  map[string][]int32
	byGroup map[string][]int32
	byEmail map[string]int32 // directory people by address; the first by name

	// hidden are people who may log in but appear in no book.
	hidden       []Item
	hiddenByUser map[string]int32
	// packed: the items' strings are in arenas (PackIndex).
	packed bool
}

// Lookup finds a card by name: a directory card, or a shared list's.
func (ix *Index) Lookup(name string) (*Item, bool) {
	if id, ok := ListOf(name); ok {
		return ix.cards[id].lookup(name)
	}
	i, ok := ix.byName[name]
	if !ok {
		return nil, false
	}
	return &ix.Items[i], true
}

// User finds the account of a login name (case-insensitive): a published
// person, or a hidden one, who may log in but is in no book.
func (ix *Index) User(username string) (*Item, bool) {
	if i, ok := ix.byUser[strings.ToLower(username)]; ok {
		return &ix.Items[i], true
	}
	if i, ok := ix.hiddenByUser[strings.ToLower(username)]; ok {
		return &ix.hidden[i], true
	}
	return nil, false
}

// Account finds a person who may log in by card name, published or hidden.
func (ix *Index) Account(name string) (*Item, bool) {
	if it, ok := ix.Lookup(name); ok && it.Kind == KindPerson {
		return it, true
	}
	for i := range ix.hidden {
		if ix.hidden[i].Name == name {
			return &ix.hidden[i], true
		}
	}
	return nil, false
}

// withHidden returns a copy of the index with one source's hidden accounts
// replaced.
func (ix *Index) withHidden(source string, items []Item) *Index {
	n := *ix
	n.hidden = nil
	for _, it := range ix.hidden {
		if directory.SourceOf(it.Key) != source {
			n.hidden = append(n.hidden, it)
		}
	}
	n.hidden = append(n.hidden, items...)
	n.hiddenByUser = map[string]int32{}
	for i, it := range n.hidden {
		if it.Username != "" {
			n.hiddenByUser[strings.ToLower(it.Username)] = int32(i)
		}
	}
	return &n
}

// sameAccounts reports whether a source's hidden accounts are unchanged.
func sameAccounts(ix *Index, source string, items []Item) bool {
	var cur []Item
	for _, it := range ix.hidden {
		if directory.SourceOf(it.Key) == source {
			cur = append(cur, it)
		}
	}
	if len(cur) != len(items) {
		return false
	}
	for i := range cur {
		if cur[i].Name != items[i].Name || cur[i].Username != items[i].Username || cur[i].Dept != items[i].Dept ||
			cur[i].Manager != items[i].Manager || !slices.Equal(cur[i].Groups, items[i].Groups) {
			return false
		}
	}
	return true
}

// InDepartment returns the positions in Items of a department's people.
func (ix *Index) InDepartment(dept string) []int32 { return ix.byDept[dept] }

// Departments returns the departments people are in, sorted.
func (ix *Index) Departments() []string {
	out := make([]string, 0, len(ix.byDept))
	for d := range ix.byDept {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// InGroup returns the positions in Items of a group's people.
func (ix *Index) InGroup(key string) []int32 { return ix.byGroup[key] }

// personItem summarises a person entry for the index.
func personItem(name string, rev uint64, hash [16]byte, e *directory.Entry) Item {
	return Item{Name: name, Key: e.Key, Kind: KindPerson, Rev: rev, hash: hash, Tag: hex.EncodeToString(hash[:10]),
		Username: e.Username, Dept: e.Department, Groups: e.Groups, Manager: e.IsManager, Present: directory.Present(e),
		Emails: foldEmails(e.Emails)}
}

func foldEmails(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, e := range in {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func groupItem(name string, rev uint64, hash [16]byte, g *directory.GroupEntry) Item {
	return Item{Name: name, Key: g.Key, Kind: KindGroup, Rev: rev, hash: hash, Tag: hex.EncodeToString(hash[:10])}
}

// rebuildIndex loads the index at open from the summaries bucket, which
// holds just what the index needs: the full records stay unread, so a large
// directory costs little memory and starts fast. Summaries missing (a store
// written before they existed) are rebuilt from the records once.
func (s *Store) rebuildIndex() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []Item
	var rev, horizon uint64
	var lists map[string]*List
	intern := map[string]string{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, recs, sums := tx.Bucket(bMeta), tx.Bucket(bItems), tx.Bucket(bSums)
		rev, horizon = getU64(meta, kDirRev), getU64(meta, kHorizon)
		// Records and summaries are written in the same transactions; only
		// a store from before summaries, or from before their current
		// version, has records without them.
		if k, _ := recs.Cursor().First(); k != nil {
			if sk, _ := sums.Cursor().First(); sk == nil || string(meta.Get(kSumVer)) != sumVer {
				if err := resummarise(recs, sums); err != nil {
					return err
				}
			}
		}
		if string(meta.Get(kSumVer)) != sumVer {
			if err := meta.Put(kSumVer, []byte(sumVer)); err != nil {
				return err
			}
		}
		var err error
		if lists, err = loadLists(tx); err != nil {
			return err
		}
		return sums.ForEach(func(k, v []byte) error {
			it, err := decodeSummary(string(k), v, intern)
			if err != nil {
				return fmt.Errorf("store: summary of %s: %w (delete the data directory's orgdav.db to rebuild from the directory)", k, err)
			}
			items = append(items, it)
			return nil
		})
	})
	if err != nil {
		return err
	}
	// The index lives as long as the process: without append's spare room
	// (a quarter of 100,000 people's items, 6 MB).
	items = append(make([]Item, 0, len(items)), items...)
	pack(items)
	var hidden []Item
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bHidden).ForEach(func(k, v []byte) error {
			it, err := decodeSummary(string(k), v, intern)
			if err != nil {
				return fmt.Errorf("store: hidden account %s: %w", k, err)
			}
			hidden = append(hidden, it)
			return nil
		})
	})
	if err != nil {
		return err
	}
	// bbolt iterates keys in byte order, the order listings use.
	ix := finishIndex(items, rev, horizon)
	ix.packed = true
	for _, src := range sourcesOf(hidden) {
		var mine []Item
		for _, it := range hidden {
			if directory.SourceOf(it.Key) == src {
				mine = append(mine, it)
			}
		}
		ix = ix.withHidden(src, mine)
	}
	ix.Lists, ix.audience = lists, buildAudience(lists)
	// A crash between a directory change and the shared lists' catching
	// up with it is repaired here: every contact and group card is checked.
	var contacts []*Item
	ids := make([]string, 0, len(lists))
	for id := range lists {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for i := range ix.cards[id].list() {
			contacts = append(contacts, &ix.cards[id].contacts[i])
		}
	}
	next, err := s.reconcile(ix, contacts, ids)
	if err != nil {
		return err
	}
	s.idx.Store(next)
	return nil
}

func sourcesOf(items []Item) []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range items {
		if src := directory.SourceOf(it.Key); !seen[src] {
			seen[src] = true
			out = append(out, src)
		}
	}
	return out
}

func resummarise(recs, sums *bolt.Bucket) error {
	return recs.ForEach(func(k, v []byte) error {
		_, it, err := summarise(k, v, nil)
		if err != nil {
			return err
		}
		return sums.Put(k, encodeSummary(&it))
	})
}

// summarise reads a stored record and the index item it summarises. With
// rehash, directory cards get the hash it gives their entry (the served
// bytes' inputs changed); shared-list cards keep theirs, since visibility
// rules do not shape them.
func summarise(k, v []byte, rehash func(e *directory.Entry, g *directory.GroupEntry) [16]byte) (record, Item, error) {
	r, err := decodeRecord(v)
	if err != nil {
		return r, Item{}, fmt.Errorf("store: item %s: %w", k, err)
	}
	if r.kind == KindContact || r.kind == KindListGroup {
		it, err := listItem(string(k), r)
		return r, it, err
	}
	e, g, err := decodeEntry(k, r)
	if err != nil {
		return r, Item{}, err
	}
	if rehash != nil {
		r.hash = rehash(e, g)
	}
	if e != nil {
		return r, personItem(string(k), r.rev, r.hash, e), nil
	}
	return r, groupItem(string(k), r.rev, r.hash, g), nil
}

// listItem summarises a shared-list card from its record; a contact's
// duplicate state is decided when the index is reconciled.
func listItem(name string, r record) (Item, error) {
	if r.kind == KindListGroup {
		return listGroupItem(name, r.rev, r.hash), nil
	}
	tag := hex.EncodeToString(r.hash[:10])
	c, err := decodeContact(r.data, tag)
	if err != nil {
		return Item{}, fmt.Errorf("store: contact %s: %w", name, err)
	}
	c.Emails = foldEmails(c.Emails)
	return contactItem(name, r.rev, r.hash, &c), nil
}

// contactItem summarises a list's contact, whose addresses are folded
// (foldEmails). A contact referring to a directory person duplicates it;
// whether one with addresses does is for the caller to decide.
func contactItem(name string, rev uint64, hash [16]byte, c *Contact) Item {
	it := Item{Name: name, Key: c.ID, Kind: KindContact, Rev: rev, hash: hash, Tag: hex.EncodeToString(hash[:10]),
		List: c.List, Emails: c.Emails}
	if c.Ref != "" {
		it.Ref, it.Dup = true, c.Ref
	}
	return it
}

// listGroupItem summarises a list's group card, named by the list's id.
func listGroupItem(id string, rev uint64, hash [16]byte) Item {
	return Item{Name: id, Key: id, Kind: KindListGroup, Rev: rev, hash: hash, Tag: hex.EncodeToString(hash[:10]), List: id}
}

// encodeSummary packs an index item: kind, rev, hash, present, manager,
// then length-prefixed key, username, department and groups.
func encodeSummary(it *Item) []byte {
	b := make([]byte, 0, 64+len(it.Key)+len(it.Username)+len(it.Dept))
	b = append(b, byte(it.Kind))
	b = binary.BigEndian.AppendUint64(b, it.Rev)
	b = append(b, it.hash[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(it.Present))
	if it.Manager {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, s := range []string{it.Key, it.Username, it.Dept} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = appendStrings(b, it.Groups)
	// Since summary version 2: list, dup, ref and addresses.
	for _, s := range []string{it.List, it.Dup} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if it.Ref {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return appendStrings(b, it.Emails)
}

func appendStrings(b []byte, list []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, s := range list {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errShortSummary = errors.New("truncated summary")

func decodeSummary(name string, b []byte, intern map[string]string) (Item, error) {
	if len(b) < 1+8+16+4+1 {
		return Item{}, errShortSummary
	}
	it := Item{Name: name, Kind: Kind(b[0]), Rev: binary.BigEndian.Uint64(b[1:9])}
	copy(it.hash[:], b[9:25])
	it.Tag = hex.EncodeToString(it.hash[:10])
	it.Present = directory.FieldSet(binary.BigEndian.Uint32(b[25:29]))
	it.Manager = b[29] == 1
	b = b[30:]
	str := func() (string, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return "", errShortSummary
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		if v, ok := intern[s]; ok {
			return v, nil
		}
		intern[s] = s
		return s, nil
	}
	var err error
	if it.Key, err = str(); err != nil {
		return it, err
	}
	if it.Username, err = str(); err != nil {
		return it, err
	}
	if it.Dept, err = str(); err != nil {
		return it, err
	}
	strs := func() ([]string, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)) {
			return nil, errShortSummary
		}
		b = b[w:]
		if n == 0 {
			return nil, nil
		}
		out := make([]string, n)
		for i := range out {
			if out[i], err = str(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if it.Groups, err = strs(); err != nil {
		return it, err
	}
	if len(b) == 0 {
		return it, nil // version 1: the store resummarises at open
	}
	if it.List, err = str(); err != nil {
		return it, err
	}
	if it.Dup, err = str(); err != nil {
		return it, err
	}
	if len(b) == 0 {
		return it, errShortSummary
	}
	it.Ref, b = b[0] == 1, b[1:]
	it.Emails, err = strs()
	return it, err
}

// patchIndex derives the next index from the previous one and an apply's
// changes (upserts sorted by name), without reading the database. When
// no card is added or removed and no updated card changed its login,
// department or groups, the lookup maps are shared with the previous
// index (both are immutable), which is the usual incremental run.
func patchIndex(old *Index, upserts []Item, removed map[string]bool, rev, horizon uint64) *Index {
	var dirUps, listUps []Item
	for _, u := range upserts {
		if u.List != "" {
			listUps = append(listUps, u)
		} else {
			dirUps = append(dirUps, u)
		}
	}
	var dirGone, listGone map[string]bool
	for name := range removed {
		m := &dirGone
		if _, ok := ListOf(name); ok {
			m = &listGone
		}
		if *m == nil {
			*m = map[string]bool{}
		}
		(*m)[name] = true
	}
	ix := patchDirectory(old, dirUps, dirGone, rev, horizon)
	if len(listUps) > 0 || len(listGone) > 0 {
		ix.cards, ix.Contacts = patchCards(old.cards, old.Contacts, listUps, listGone)
	}
	return ix
}

// patchDirectory is patchIndex for the directory's cards.
func patchDirectory(old *Index, upserts []Item, removed map[string]bool, rev, horizon uint64) *Index {
	if len(upserts) == 0 && len(removed) == 0 {
		// A change of lists' settings only: the cards stay shared.
		ix := *old
		ix.Rev, ix.Horizon = rev, horizon
		return &ix
	}
	if len(removed) == 0 && sameShape(old, upserts) {
		ix := *old
		ix.Rev, ix.Horizon, ix.packed = rev, horizon, false
		ix.Items = append([]Item(nil), old.Items...)
		for i := range upserts {
			ix.Items[old.byName[upserts[i].Name]] = upserts[i]
		}
		return &ix
	}
	if len(old.Items) == 0 {
		// A first import: the upserts are the whole index, already sorted.
		return withHiddenOf(old, finishIndex(upserts, rev, horizon))
	}
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
	return withHiddenOf(old, finishIndex(items, rev, horizon))
}

// withHiddenOf gives ix the hidden accounts and the lists of old.
func withHiddenOf(old, ix *Index) *Index {
	ix.hidden, ix.hiddenByUser = old.hidden, old.hiddenByUser
	ix.Lists, ix.audience, ix.cards, ix.Contacts = old.Lists, old.audience, old.cards, old.Contacts
	return ix
}

func sameShape(old *Index, upserts []Item) bool {
	for i := range upserts {
		u := &upserts[i]
		o, ok := old.Lookup(u.Name)
		if !ok || o.Username != u.Username || o.Dept != u.Dept || o.Kind != u.Kind || !slices.Equal(o.Groups, u.Groups) ||
			o.List != u.List || o.Ref != u.Ref || o.Dup != u.Dup || !slices.Equal(o.Emails, u.Emails) {
			return false
		}
	}
	return true
}

// finishIndex builds an index of items, sorted by name: the directory's
// cards in Items, the lists' cards apart.
func finishIndex(items []Item, rev, horizon uint64) *Index {
	var listItems []Item
	dir := items
	for i := range items {
		if items[i].List != "" {
			dir = make([]Item, 0, len(items))
			for _, it := range items {
				if it.List != "" {
					listItems = append(listItems, it)
				} else {
					dir = append(dir, it)
				}
			}
			break
		}
	}
	ix := &Index{Rev: rev, Horizon: horizon, Items: dir,
		byName: make(map[string]int32, len(dir)), byUser: map[string]int32{}, byDept: map[string][]int32{}, byGroup: map[string][]int32{},
		byEmail: map[string]int32{}, Lists: map[string]*List{}, audience: &audienceIndex{}}
	ix.cards, ix.Contacts = patchCards(nil, 0, listItems, nil)
	for i := range ix.Items {
		it := &ix.Items[i]
		ix.byName[it.Name] = int32(i)
		if it.Kind == KindGroup {
			ix.Groups++
			continue
		}
		ix.People++
		for _, e := range it.Emails {
			if _, taken := ix.byEmail[e]; !taken {
				ix.byEmail[e] = int32(i)
			}
		}
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
