package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Contact is one contact of a shared list: a vCard as an editor or an
// import gave it, or a reference to a directory person.
type Contact struct {
	List string `json:"list"`
	// ID names the contact in its list: its href segment in editors'
	// books, or the id an import or the API gave it.
	ID  string `json:"id"`
	UID string `json:"uid,omitempty"`
	// Ref is the card name of the directory person this contact is.
	Ref    string   `json:"ref,omitempty"`
	Emails []string `json:"emails,omitempty"` // lower-cased by the store
	// Name and Phones are what an import matches a contact by when it has
	// neither the UID nor an address of one already in the list.
	Name    string    `json:"name,omitempty"`
	Phones  []string  `json:"phones,omitempty"`
	Updated time.Time `json:"updated"`
	Card    []byte    `json:"-"`
	ETag    string    `json:"etag,omitempty"` // set when read
}

// ListGroup is a list's contact group card: its name and members' card
// names.
type ListGroup struct {
	List    string   `json:"list"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// encodeContact stores the header as JSON, then the card verbatim.
func encodeContact(c *Contact) ([]byte, error) {
	h, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	b := binary.AppendUvarint(make([]byte, 0, len(h)+len(c.Card)+4), uint64(len(h)))
	b = append(b, h...)
	return append(b, c.Card...), nil
}

func decodeContact(data []byte, tag string) (Contact, error) {
	n, w := binary.Uvarint(data)
	if w <= 0 || uint64(len(data)-w) < n {
		return Contact{}, errors.New("truncated contact")
	}
	var c Contact
	if err := json.Unmarshal(data[w:w+int(n)], &c); err != nil {
		return c, err
	}
	c.Card = append([]byte(nil), data[w+int(n):]...)
	c.ETag = tag
	return c, nil
}

func contactHash(c *Contact) [16]byte {
	h := sha256.New()
	h.Write([]byte(c.Ref))
	h.Write([]byte{0})
	h.Write(c.Card)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// cardWriter is one transaction's changes to shared-list cards: what it
// wrote and removed, over the index it started from, and the lists whose
// group cards it must bring up to date.
type cardWriter struct {
	tx      *bolt.Tx
	old     *Index
	rev     uint64
	now     time.Time
	upserts map[string]Item
	removed map[string]bool
	lists   map[string]*List // every list; nil for a deleted one
	changed map[string]bool  // lists whose settings or cards changed
	touched map[string]bool  // lists whose group card may differ
	listRev map[string]uint64
	// settings is set when a list's settings (not just its cards) change:
	// only then is the index of audiences rebuilt.
	settings bool
}

// newCardWriter starts a transaction's changes over old, with every list
// as old has it.
func newCardWriter(s *Store, old *Index) *cardWriter {
	w := &cardWriter{old: old, now: s.opt.Now(), upserts: map[string]Item{}, removed: map[string]bool{},
		lists: make(map[string]*List, len(old.Lists)+1), changed: map[string]bool{}, touched: map[string]bool{}, listRev: map[string]uint64{}}
	for id, l := range old.Lists {
		w.lists[id] = l
	}
	return w
}

// listTx runs fn in one transaction and publishes the index it leads to.
func (s *Store) listTx(fn func(w *cardWriter) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := newCardWriter(s, s.Index())
	var horizon uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		w.tx = tx
		meta := tx.Bucket(bMeta)
		w.rev = getU64(meta, kRev)
		if err := fn(w); err != nil {
			return err
		}
		if err := w.finish(); err != nil {
			return err
		}
		if err := s.pruneTombstones(tx, w.now); err != nil {
			return err
		}
		horizon = getU64(meta, kHorizon)
		putU64(meta, kRev, w.rev)
		return nil
	})
	if err != nil {
		return err
	}
	s.idx.Store(w.index(horizon))
	return nil
}

// list returns a list for a change, checking the version the caller saw.
func (w *cardWriter) list(id string, version uint64) (*List, error) {
	l := w.lists[id]
	if l == nil {
		return nil, ErrNotFound
	}
	if version != 0 && version != l.Version {
		return nil, ErrPrecondition
	}
	return l, nil
}

func (w *cardWriter) nameFree(name, self string) error {
	for id, l := range w.lists {
		if l != nil && id != self && strings.EqualFold(l.Name, name) {
			return ErrNameTaken
		}
	}
	return nil
}

// lookup finds a card as this transaction leaves it.
func (w *cardWriter) lookup(name string) (Item, bool) {
	if it, ok := w.upserts[name]; ok {
		return it, true
	}
	if w.removed[name] {
		return Item{}, false
	}
	if it, ok := w.old.Lookup(name); ok {
		return *it, true
	}
	return Item{}, false
}

// put writes a card at the next revision, moving its change entry.
func (w *cardWriter) put(it Item, data []byte) error {
	w.rev++
	ch := w.tx.Bucket(bChanges)
	if cur, exists := w.lookup(it.Name); exists {
		if err := ch.Delete(u64(cur.Rev)); err != nil {
			return err
		}
	} else if err := clearTombstone(w.tx, it.Name); err != nil {
		return err
	}
	it.Rev = w.rev
	if err := w.tx.Bucket(bItems).Put([]byte(it.Name), encodeRecord(it.Rev, it.hash, it.Kind, data)); err != nil {
		return err
	}
	if err := ch.Put(u64(it.Rev), changeValue(opPut, w.now, it.Name)); err != nil {
		return err
	}
	if err := w.tx.Bucket(bSums).Put([]byte(it.Name), encodeSummary(&it)); err != nil {
		return err
	}
	w.upserts[it.Name] = it
	delete(w.removed, it.Name)
	w.mark(it.List, it.Rev)
	return nil
}

// touch gives a card a new revision without changing its content: its
// duplicate state changed, so viewers must be told.
func (w *cardWriter) touch(it Item) error {
	v := w.tx.Bucket(bItems).Get([]byte(it.Name))
	r, err := decodeRecord(v)
	if err != nil {
		return fmt.Errorf("store: item %s: %w", it.Name, err)
	}
	return w.put(it, append([]byte(nil), r.data...))
}

func (w *cardWriter) remove(name string) error {
	it, exists := w.lookup(name)
	if !exists {
		return nil
	}
	w.rev++
	if err := removeCard(w.tx, &it, w.rev, w.now); err != nil {
		return err
	}
	delete(w.upserts, name)
	if _, inOld := w.old.Lookup(name); inOld {
		w.removed[name] = true
	}
	w.mark(it.List, w.rev)
	return nil
}

func (w *cardWriter) mark(list string, rev uint64) {
	if list == "" {
		return
	}
	w.listRev[list] = rev
	w.changed[list] = true
	w.touched[list] = true
}

// setList gives a list new settings, or deletes it (nil): finish writes
// them, whether or not its cards change, and brings its group card up to
// date.
func (w *cardWriter) setList(id string, l *List) {
	w.lists[id] = l
	w.settings = true
	w.changed[id] = true
	w.touched[id] = true
}

// putContact stores a contact of a list: its duplicate state is decided
// here, against the directory as it is.
func (w *cardWriter) putContact(c *Contact) (Item, bool, error) {
	c.Emails = foldEmails(c.Emails)
	c.Updated, c.ETag = w.now, ""
	data, err := encodeContact(c)
	if err != nil {
		return Item{}, false, err
	}
	h := contactHash(c)
	name := ListCardName(c.List, c.ID)
	cur, exists := w.lookup(name)
	if exists && cur.Key != c.ID {
		return Item{}, false, fmt.Errorf("store: contact ids %q and %q of list %s share a card name; give one another id", cur.Key, c.ID, c.List)
	}
	c.ETag = hex.EncodeToString(h[:10])
	if exists && cur.hash == h {
		return cur, false, nil
	}
	it := contactItem(name, 0, h, c)
	it.Dup = dupOf(w.old, &it)
	return it, !exists, w.put(it, data)
}

// dupOf is the directory person a contact with addresses is, if any.
func dupOf(dir *Index, it *Item) string {
	if it.Ref {
		return it.Dup
	}
	for _, e := range it.Emails {
		if i, ok := dir.byEmail[e]; ok {
			return dir.Items[i].Name
		}
	}
	return ""
}

// finish writes the group cards of the lists this transaction touched and
// the settings of the lists it changed.
func (w *cardWriter) finish() error {
	ids := make([]string, 0, len(w.touched))
	for id := range w.touched {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		l := w.lists[id]
		if l == nil {
			continue
		}
		g := ListGroup{List: id, Name: l.Name, Members: w.members(l)}
		data, err := json.Marshal(g)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		var h [16]byte
		copy(h[:], sum[:])
		if cur, ok := w.lookup(id); ok && cur.hash == h {
			continue
		}
		if err := w.put(listGroupItem(id, 0, h), data); err != nil {
			return err
		}
	}
	b := w.tx.Bucket(bLists)
	for id := range w.changed {
		l := w.lists[id]
		if l == nil {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
			continue
		}
		if rev, ok := w.listRev[id]; ok {
			n := *l
			n.Rev = rev
			if w.old.Lists[id] == l {
				// Cards changed, the settings did not: a new version all
				// the same, for the API's If-Match.
				n.Version++
				n.Updated = w.now
			}
			w.lists[id] = &n
			l = &n
		}
		data, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(id), data); err != nil {
			return err
		}
	}
	return nil
}

// members lists a list's group card members: for a live list the
// directory people of its group or department, else its contacts, each as
// the directory card it duplicates, if any.
func (w *cardWriter) members(l *List) []string {
	dir := w.old
	var out []string
	if l.Live != nil {
		var pos []int32
		if l.Live.Group != "" {
			pos = dir.InGroup(l.Live.Group)
		} else {
			pos = dir.InDepartment(l.Live.Department)
		}
		for _, i := range pos {
			out = append(out, dir.Items[i].Name)
		}
		return out
	}
	add := func(it *Item) {
		switch {
		case it.Dup == "":
			out = append(out, it.Name)
		case dir.hasPerson(it.Dup):
			out = append(out, it.Dup)
		}
	}
	cards := w.old.ListCards(l.ID)
	for i := range cards {
		it := &cards[i]
		if _, up := w.upserts[it.Name]; !up && !w.removed[it.Name] {
			add(it)
		}
	}
	for _, it := range w.upserts {
		if it.List == l.ID && it.Kind == KindContact {
			add(&it)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (ix *Index) hasPerson(name string) bool {
	it, ok := ix.Lookup(name)
	return ok && it.Kind == KindPerson
}

// index is the index after the transaction: the one it started from with
// its writes, the lists' new settings and their audiences.
func (w *cardWriter) index(horizon uint64) *Index {
	ups := make([]Item, 0, len(w.upserts))
	for _, it := range w.upserts {
		ups = append(ups, it)
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
	ix := patchIndex(w.old, ups, w.removed, w.old.Rev, horizon)
	lists := make(map[string]*List, len(w.lists))
	for id, l := range w.lists {
		if l != nil {
			lists[id] = l
		}
	}
	ix.Lists = lists
	if w.settings {
		ix.audience = buildAudience(lists)
	}
	return ix
}

// reconcile brings shared-list cards up to date with the directory in dir
// (an index not yet published): contacts whose duplicate state changed get
// a new revision, and the group cards of lists they, references or live
// memberships touch are rewritten. It returns the index to publish.
func (s *Store) reconcile(dir *Index, contacts []*Item, lists []string) (*Index, error) {
	if len(contacts) == 0 && len(lists) == 0 {
		return dir, nil
	}
	w := newCardWriter(s, dir)
	for _, id := range lists {
		w.touched[id] = true
	}
	var horizon uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		w.tx = tx
		meta := tx.Bucket(bMeta)
		w.rev = getU64(meta, kRev)
		for _, c := range contacts {
			it := *c
			if d := dupOf(dir, &it); d != it.Dup {
				it.Dup = d
				if err := w.touch(it); err != nil {
					return err
				}
			}
		}
		if err := w.finish(); err != nil {
			return err
		}
		if len(w.upserts) == 0 && len(w.changed) == 0 {
			// Nothing to write: no commit, no sync to disk.
			return errUpToDate
		}
		horizon = getU64(meta, kHorizon)
		putU64(meta, kRev, w.rev)
		return nil
	})
	if errors.Is(err, errUpToDate) {
		return dir, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: bring shared lists up to date with the directory: %w", err)
	}
	return w.index(horizon), nil
}

// errUpToDate rolls back a reconcile that found nothing to change.
var errUpToDate = errors.New("shared lists are up to date")

// affectedByDirectory returns the contacts and lists a directory change
// may affect: contacts sharing an address with a changed or removed
// person, lists referring to one, and every live list.
func affectedByDirectory(old, cur *Index, upserts []Item, removed map[string]bool) ([]*Item, []string) {
	if len(cur.Lists) == 0 {
		return nil, nil
	}
	emails := map[string]bool{}
	people := map[string]bool{}
	for i := range upserts {
		if upserts[i].Kind != KindPerson {
			continue
		}
		people[upserts[i].Name] = true
		for _, e := range upserts[i].Emails {
			emails[e] = true
		}
		if o, ok := old.Lookup(upserts[i].Name); ok {
			for _, e := range o.Emails {
				emails[e] = true
			}
		}
	}
	for name := range removed {
		if o, ok := old.Lookup(name); ok && o.Kind == KindPerson {
			people[name] = true
			for _, e := range o.Emails {
				emails[e] = true
			}
		}
	}
	if len(people) == 0 {
		return nil, nil
	}
	var contacts []*Item
	var lists []string
	for _, id := range slices.Sorted(maps.Keys(cur.Lists)) {
		lc := cur.cards[id]
		hit := cur.Lists[id].Live != nil
		if lc != nil {
			for e := range emails {
				for _, i := range lc.byEmail[e] {
					contacts = append(contacts, &lc.contacts[i])
					hit = true
				}
			}
			for p := range people {
				if len(lc.refs[p]) > 0 {
					hit = true
				}
			}
		}
		if hit {
			lists = append(lists, id)
		}
	}
	return contacts, lists
}

// ListContacts calls fn for each contact of a list, in card name order.
func (s *Store) ListContacts(id string, fn func(Contact) bool) error {
	ix := s.Index()
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bItems)
		cards := ix.ListCards(id)
		for i := range cards {
			c, err := readContact(b, &cards[i])
			if err != nil {
				return err
			}
			if !fn(c) {
				return nil
			}
		}
		return nil
	})
}

// Contact reads one contact of a list by its id.
func (s *Store) Contact(list, id string) (Contact, error) {
	it, ok := s.Index().Lookup(ListCardName(list, id))
	if !ok || it.Key != id {
		return Contact{}, ErrNotFound
	}
	return s.contact(it)
}

// ContactCard reads the contact behind a card name.
func (s *Store) ContactCard(name string) (Contact, error) {
	it, ok := s.Index().Lookup(name)
	if !ok {
		return Contact{}, ErrNotFound
	}
	return s.contact(it)
}

func (s *Store) contact(it *Item) (Contact, error) {
	if it.Kind != KindContact {
		return Contact{}, ErrNotFound
	}
	var c Contact
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		c, err = readContact(tx.Bucket(bItems), it)
		return err
	})
	return c, err
}

func readContact(b *bolt.Bucket, it *Item) (Contact, error) {
	v := b.Get([]byte(it.Name))
	if v == nil {
		return Contact{}, ErrNotFound
	}
	r, err := decodeRecord(v)
	if err != nil {
		return Contact{}, fmt.Errorf("store: contact %s: %w", it.Name, err)
	}
	c, err := decodeContact(r.data, it.Tag)
	if err != nil {
		return c, fmt.Errorf("store: contact %s: %w", it.Name, err)
	}
	return c, nil
}

// ListGroupCard reads a list's group card.
func (s *Store) ListGroupCard(name string) (ListGroup, error) {
	var g ListGroup
	err := s.readItem(name, KindListGroup, func(data []byte) error { return json.Unmarshal(data, &g) })
	return g, err
}

// ContactWrite is one change of an import or an edit: a contact to store,
// or (Delete) the id of one to remove.
type ContactWrite struct {
	Contact Contact
	Delete  bool
	// New refuses to replace a contact of the same id (ErrExists).
	New bool
}

// ErrExists refuses a new contact whose id the list already has.
var ErrExists = errors.New("the list already has this contact")

// ContactsResult counts what a write did.
type ContactsResult struct {
	Created, Updated, Unchanged, Deleted int
	List                                 *List
}

// WriteContacts applies writes to a list in one transaction: all or
// nothing. version, when not 0, must be the list's current version.
func (s *Store) WriteContacts(list string, version uint64, writes []ContactWrite) (ContactsResult, error) {
	var res ContactsResult
	err := s.listTx(func(w *cardWriter) error {
		l, err := w.list(list, version)
		if err != nil {
			return err
		}
		if l.Live != nil {
			return ErrLiveList
		}
		// In card name order: bbolt inserts sorted keys by appending to
		// its pages instead of shifting them, and packs them full.
		order := make([]int, len(writes))
		names := make([]string, len(writes))
		for i := range writes {
			order[i], names[i] = i, ListCardName(list, writes[i].Contact.ID)
		}
		slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(names[a], names[b]) })
		for _, b := range [][]byte{bItems, bSums} {
			w.tx.Bucket(b).FillPercent = 0.9
		}
		for _, i := range order {
			c := writes[i].Contact
			c.List = list
			if writes[i].Delete {
				name := ListCardName(list, c.ID)
				if _, ok := w.lookup(name); !ok {
					return fmt.Errorf("%w: contact %q", ErrNotFound, c.ID)
				}
				if err := w.remove(name); err != nil {
					return err
				}
				res.Deleted++
				continue
			}
			if writes[i].New {
				if _, exists := w.lookup(ListCardName(list, c.ID)); exists {
					return fmt.Errorf("%w: %q", ErrExists, c.ID)
				}
			}
			before := w.rev
			_, created, err := w.putContact(&c)
			switch {
			case err != nil:
				return err
			case created:
				res.Created++
			case w.rev == before:
				res.Unchanged++
			default:
				res.Updated++
			}
		}
		return nil
	})
	if err == nil {
		res.List, _ = s.List(list)
	}
	return res, err
}

// ErrLiveList refuses contact writes to a list whose members come from the
// directory.
var ErrLiveList = errors.New("the list is live: its members come from the directory")

// PutContact stores one contact under conditions (an editor's PUT) and
// returns its ETag.
func (s *Store) PutContact(c Contact, cond Conditions) (etag string, created bool, err error) {
	err = s.listTx(func(w *cardWriter) error {
		l, err := w.list(c.List, 0)
		if err != nil {
			return err
		}
		if l.Live != nil {
			return ErrLiveList
		}
		cur, exists := w.lookup(ListCardName(c.List, c.ID))
		if err := checkConditions(exists, cur.Tag, cond); err != nil {
			return err
		}
		if c.UID != "" {
			cards := w.old.ListCards(c.List)
			for i := range cards {
				o := &cards[i]
				if o.Key != c.ID && !w.removed[o.Name] && !o.Ref && w.uidOf(o) == c.UID {
					return &UIDConflictError{Name: o.Key}
				}
			}
		}
		it, isNew, err := w.putContact(&c)
		etag, created = it.Tag, isNew
		return err
	})
	return etag, created, err
}

// uidOf reads a contact's UID within the transaction.
func (w *cardWriter) uidOf(it *Item) string {
	c, err := readContact(w.tx.Bucket(bItems), it)
	if err != nil {
		return ""
	}
	return c.UID
}

// DeleteContact removes one contact under conditions (an editor's DELETE).
func (s *Store) DeleteContact(list, id string, cond Conditions) error {
	return s.listTx(func(w *cardWriter) error {
		l, err := w.list(list, 0)
		if err != nil {
			return err
		}
		if l.Live != nil {
			return ErrLiveList
		}
		name := ListCardName(list, id)
		cur, exists := w.lookup(name)
		if !exists || cur.Key != id {
			return ErrNotFound
		}
		if err := checkConditions(true, cur.Tag, cond); err != nil {
			return err
		}
		return w.remove(name)
	})
}
