// Package store keeps what orgdav publishes in bbolt: directory cards with a
// global revision and a change index (tombstones included), the views that
// sync tokens refer to, and every user's personal book.
//
// Readers never touch bbolt for listings: each apply builds an immutable
// Index that requests share without locks.
package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orgdav/orgdav/directory"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bMeta    = []byte("meta")
	bItems   = []byte("items")
	bSums    = []byte("summaries")
	bHidden  = []byte("hidden-accounts") // name -> summary of people who may log in but are in no book
	bChanges = []byte("changes")
	bTombs   = []byte("tombstones")
	bTombIdx = []byte("tombstones-by-name")
	bViews   = []byte("views")
	bUsers   = []byte("personal")

	kEpoch   = []byte("epoch")
	kRev     = []byte("rev")
	kDirRev  = []byte("dirrev")
	kHorizon = []byte("horizon")
	kFP      = []byte("fingerprint")
	kSchema  = []byte("schema")
)

const schemaVersion = "1"

// MaxWritesPerTx bounds the card writes of one transaction; see Apply.
const MaxWritesPerTx = 5000

// DefaultRetention is how long tombstones are kept. Sync tokens older than
// the newest pruned tombstone are refused, so this is generous: a phone that
// was off for months still syncs incrementally.
const DefaultRetention = 400 * 24 * time.Hour

// Kind tells person cards from group cards.
type Kind byte

const (
	KindPerson Kind = 'p'
	KindGroup  Kind = 'g'
)

const (
	opPut    byte = 'P'
	opDelete byte = 'D'
)

// Options configure a store.
type Options struct {
	// Fingerprint identifies everything besides the data that changes the
	// served bytes (visibility rules, rendering options). When it differs
	// from the stored one, every card gets a new revision, so clients
	// re-fetch exactly once.
	Fingerprint string
	// Retention is how long tombstones are kept (DefaultRetention if zero).
	Retention time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// MappedBytes bounds the database pages that stay in orgdav's
	// resident memory after reads (see mapped); 0: no bound.
	MappedBytes int64
}

// Store is the bbolt-backed store. It is safe for concurrent use; writes are
// serialised.
type Store struct {
	db     *bolt.DB
	opt    Options
	epoch  string
	mu     sync.Mutex // serialises writers that rebuild the index
	idx    atomic.Pointer[Index]
	mapped mapped
}

// Open opens or creates the store at path.
func Open(path string, opt Options) (*Store, error) {
	if opt.Retention <= 0 {
		opt.Retention = DefaultRetention
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	// The hashmap freelist keeps commits cheap on a large database. The
	// freelist stays persisted: rebuilding it at open would read every
	// page and keep the whole file resident.
	// The initial mapping reserves address space (not memory) so the file
	// can grow to 1 GiB without remapping, which copies every node of a
	// large write transaction onto the heap.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType, InitialMmapSize: 1 << 30})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: the file is locked by another orgdav process; stop it or use another --data directory", path)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, opt: opt}
	s.mapped.budget = opt.MappedBytes
	if err := db.Update(s.init); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.recode(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.rebuildIndex(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(tx *bolt.Tx) error {
	for _, b := range [][]byte{bMeta, bItems, bSums, bHidden, bChanges, bTombs, bTombIdx, bViews, bUsers, bRuns, bRemovals, bHolds, bLists} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("store: create bucket %s: %w", b, err)
		}
	}
	meta := tx.Bucket(bMeta)
	if v := meta.Get(kSchema); v != nil && string(v) != schemaVersion {
		return fmt.Errorf("store: data schema %q, this orgdav needs %q: use a new --data directory", v, schemaVersion)
	}
	if err := meta.Put(kSchema, []byte(schemaVersion)); err != nil {
		return err
	}
	if e := meta.Get(kEpoch); e != nil {
		s.epoch = string(e)
	} else {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		s.epoch = hex.EncodeToString(b[:])
		if err := meta.Put(kEpoch, []byte(s.epoch)); err != nil {
			return err
		}
	}
	if string(meta.Get(kFP)) != s.opt.Fingerprint {
		if err := s.refingerprint(tx); err != nil {
			return err
		}
		return meta.Put(kFP, []byte(s.opt.Fingerprint))
	}
	return nil
}

// refingerprint gives every card a new hash and revision after the served
// bytes' inputs changed. Shared-list cards keep their hash but get a new
// revision all the same, since the rendering may have changed.
func (s *Store) refingerprint(tx *bolt.Tx) error {
	items := tx.Bucket(bItems)
	type upd struct {
		name []byte
		rec  []byte
		item Item
	}
	var ups []upd
	var buf hashBuf
	rehash := func(e *directory.Entry, g *directory.GroupEntry) [16]byte {
		if e != nil {
			return hashPerson(&buf, s.opt.Fingerprint, e)
		}
		return hashGroup(&buf, s.opt.Fingerprint, g)
	}
	err := items.ForEach(func(k, v []byte) error {
		r, it, err := summarise(k, v, rehash)
		if err != nil {
			return err
		}
		ups = append(ups, upd{append([]byte(nil), k...), encodeRecord(r.rev, r.hash, r.kind, r.data), it})
		return nil
	})
	if err != nil || len(ups) == 0 {
		return err
	}
	rev := getU64(tx.Bucket(bMeta), kRev)
	ch := tx.Bucket(bChanges)
	now := s.opt.Now()
	for _, u := range ups {
		old, _ := decodeRecord(items.Get(u.name))
		rev++
		if err := ch.Delete(u64(old.rev)); err != nil {
			return err
		}
		binary.BigEndian.PutUint64(u.rec[0:8], rev)
		if err := items.Put(u.name, u.rec); err != nil {
			return err
		}
		u.item.Rev = rev
		if err := tx.Bucket(bSums).Put(u.name, encodeSummary(&u.item)); err != nil {
			return err
		}
		if err := ch.Put(u64(rev), changeValue(opPut, now, string(u.name))); err != nil {
			return err
		}
	}
	putU64(tx.Bucket(bMeta), kRev, rev)
	putU64(tx.Bucket(bMeta), kDirRev, rev)
	// Every list's cards changed: its revision moves with them.
	lists, err := loadLists(tx)
	if err != nil {
		return err
	}
	for _, l := range lists {
		l.Rev = rev
		data, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bLists).Put([]byte(l.ID), data); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Epoch identifies this store's history; a wiped store gets a new one, so
// sync tokens from before are refused rather than misread.
func (s *Store) Epoch() string { return s.epoch }

// Index returns the current read-only snapshot of the directory cards.
func (s *Store) Index() *Index { return s.idx.Load() }

// ApplyResult counts what an apply changed.
type ApplyResult struct {
	Added, Updated, Removed, Unchanged int
	Rev                                uint64
}

// Changed reports whether the apply changed anything.
func (r ApplyResult) Changed() bool { return r.Added+r.Updated+r.Removed > 0 }

type desired struct {
	kind   Kind
	person *directory.Entry
	group  *directory.GroupEntry
	hash   [16]byte
}

func (d desired) encode() ([]byte, error) {
	if d.kind == KindPerson {
		return appendPerson(nil, d.person), nil
	}
	return appendGroup(nil, d.group), nil
}

// Apply makes the store hold exactly pub's people and groups for pub.Source,
// in one transaction: only real changes get new revisions, removed cards
// leave tombstones, other sources are untouched.
func (s *Store) Apply(pub *directory.Published) (ApplyResult, error) {
	want, err := s.desire(pub.Source, pub.People, pub.Groups)
	if err != nil {
		return ApplyResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.idx.Load()
	var gone []*Item
	for i := range old.Items {
		it := &old.Items[i]
		if directory.SourceOf(it.Key) != pub.Source {
			continue
		}
		if _, keep := want[it.Name]; !keep {
			gone = append(gone, it)
		}
	}
	var hidden []Item
	for i := range pub.Hidden {
		e := &pub.Hidden[i]
		hidden = append(hidden, personItem(directory.CardUID(e.Key), 0, [16]byte{}, e))
	}
	sort.Slice(hidden, func(i, j int) bool { return hidden[i].Name < hidden[j].Name })
	if sameAccounts(old, pub.Source, hidden) {
		hidden = nil
	} else if hidden == nil {
		hidden = []Item{}
	}
	return s.write(pub.Source, old, want, gone, hidden)
}

// ApplyChange writes a partial update of one source: the entries a delta
// changed, and the people and groups it removed. Unlike Apply it leaves
// every other card of the source alone, so its cost follows the size of
// the change.
func (s *Store) ApplyChange(ch *directory.Change) (ApplyResult, error) {
	want, err := s.desire(ch.Source, ch.People, ch.Groups)
	if err != nil {
		return ApplyResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.idx.Load()
	var gone []*Item
	for _, key := range slices.Concat(ch.RemovedPeople, ch.RemovedGroups) {
		name := directory.CardUID(key)
		if directory.SourceOf(key) != ch.Source {
			return ApplyResult{}, fmt.Errorf("store: change of source %q removes %s", ch.Source, key)
		}
		if _, dup := want[name]; dup {
			return ApplyResult{}, fmt.Errorf("store: change of source %q both writes and removes %s", ch.Source, key)
		}
		if it, ok := old.Lookup(name); ok {
			gone = append(gone, it)
		}
	}
	return s.write(ch.Source, old, want, gone, nil)
}

// write stores the wanted cards that differ from old, removes gone ones
// and, when hidden is not nil, replaces the source's hidden accounts. The
// caller holds s.mu.
func (s *Store) write(source string, old *Index, want map[string]desired, gone []*Item, hidden []Item) (ApplyResult, error) {
	var res ApplyResult
	// Deterministic order keeps revisions reproducible across runs.
	names := make([]string, 0, len(want))
	for n, d := range want {
		if cur, exists := old.Lookup(n); !exists || cur.hash != d.hash {
			names = append(names, n)
		}
	}
	res.Unchanged = len(want) - len(names)
	sort.Strings(names)
	hiddenChanged := hidden != nil
	upserts := make([]Item, 0, len(names))
	removed := map[string]bool{}
	horizon := old.Horizon
	now := s.opt.Now()
	// One transaction normally. A change set larger than MaxWritesPerTx
	// (a first import of a large directory) is written in several, so the
	// encoded records and bbolt's page buffers of 100,000 people are never
	// in memory at once; readers still switch to the new index only once,
	// at the end. A crash between them leaves part of that run applied,
	// which the next run completes.
	for start := 0; start == 0 || start < len(names); start += MaxWritesPerTx {
		chunk := names[start:min(start+MaxWritesPerTx, len(names))]
		last := start+MaxWritesPerTx >= len(names)
		var written []Item // kept only once their transaction commits
		err := s.db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bMeta)
			// Names are written in sorted order: packed pages keep the
			// file, and what a reader maps of it, small.
			tx.Bucket(bItems).FillPercent, tx.Bucket(bSums).FillPercent = 0.9, 0.9
			rev := getU64(meta, kRev)
			dirRev := getU64(meta, kDirRev)
			for _, name := range chunk {
				rev++
				it, err := writeCard(tx, old, name, want[name], rev, now)
				if err != nil {
					return err
				}
				written = append(written, it)
			}
			if last {
				people := 0
				for _, it := range gone {
					rev++
					removed[it.Name] = true
					if err := removeCard(tx, it, rev, now); err != nil {
						return err
					}
					if it.Kind == KindPerson {
						people++
					}
				}
				if people > 0 {
					if err := recordRemovals(tx, source, people, now); err != nil {
						return err
					}
				}
				if err := s.pruneTombstones(tx, now); err != nil {
					return err
				}
				horizon = getU64(meta, kHorizon)
				if hiddenChanged {
					if err := replaceHidden(tx, old, source, hidden); err != nil {
						return err
					}
				}
			}
			if len(chunk) > 0 || (last && len(gone) > 0) {
				dirRev = rev
			}
			res.Rev = dirRev
			putU64(meta, kRev, rev)
			putU64(meta, kDirRev, dirRev)
			return nil
		})
		if err != nil {
			if len(upserts) > 0 {
				// Earlier chunks are committed: the index must show them.
				s.idx.Store(patchIndex(old, upserts, nil, upserts[len(upserts)-1].Rev, horizon))
			}
			return ApplyResult{}, fmt.Errorf("store: apply source %q: %w", source, err)
		}
		upserts = append(upserts, written...)
	}
	for _, it := range upserts {
		if _, exists := old.Lookup(it.Name); exists {
			res.Updated++
		} else {
			res.Added++
		}
	}
	res.Removed = len(removed)
	if res.Changed() || horizon != old.Horizon || hiddenChanged {
		ix := patchIndex(old, upserts, removed, res.Rev, horizon)
		if hiddenChanged {
			ix = ix.withHidden(source, hidden)
		}
		contacts, lists := affectedByDirectory(old, ix, upserts, removed)
		next, err := s.reconcile(ix, contacts, lists)
		if err != nil {
			// The directory's change is committed and served; the shared
			// lists catch up at the next change or start.
			s.idx.Store(ix)
			return res, err
		}
		s.idx.Store(next)
	}
	return res, nil
}

// writeCard stores a new or changed card at rev, moving its change entry
// (or clearing its tombstone), and returns its index summary.
func writeCard(tx *bolt.Tx, old *Index, name string, d desired, rev uint64, now time.Time) (Item, error) {
	ch := tx.Bucket(bChanges)
	if cur, exists := old.Lookup(name); exists {
		if err := ch.Delete(u64(cur.Rev)); err != nil {
			return Item{}, err
		}
	} else if err := clearTombstone(tx, name); err != nil {
		return Item{}, err
	}
	data, err := d.encode()
	if err != nil {
		return Item{}, fmt.Errorf("encode %s: %w", name, err)
	}
	if err := tx.Bucket(bItems).Put([]byte(name), encodeRecord(rev, d.hash, d.kind, data)); err != nil {
		return Item{}, err
	}
	if err := ch.Put(u64(rev), changeValue(opPut, now, name)); err != nil {
		return Item{}, err
	}
	var it Item
	if d.kind == KindPerson {
		it = personItem(name, rev, d.hash, d.person)
	} else {
		it = groupItem(name, rev, d.hash, d.group)
	}
	return it, tx.Bucket(bSums).Put([]byte(name), encodeSummary(&it))
}

// removeCard deletes a card and leaves its tombstone at rev.
func removeCard(tx *bolt.Tx, it *Item, rev uint64, now time.Time) error {
	ch := tx.Bucket(bChanges)
	for _, del := range []struct {
		b *bolt.Bucket
		k []byte
	}{{tx.Bucket(bItems), []byte(it.Name)}, {tx.Bucket(bSums), []byte(it.Name)}, {ch, u64(it.Rev)}} {
		if err := del.b.Delete(del.k); err != nil {
			return err
		}
	}
	// A list contact's tombstone keeps its id: its editors' books name
	// it by id, not by card name.
	name := it.Name
	if it.Kind == KindContact {
		name += "\x00" + it.Key
	}
	if err := ch.Put(u64(rev), changeValue(opDelete, now, name)); err != nil {
		return err
	}
	if err := tx.Bucket(bTombs).Put(u64(rev), []byte(it.Name)); err != nil {
		return err
	}
	return tx.Bucket(bTombIdx).Put([]byte(it.Name), u64(rev))
}

// replaceHidden replaces one source's hidden accounts.
func replaceHidden(tx *bolt.Tx, old *Index, source string, hidden []Item) error {
	hb := tx.Bucket(bHidden)
	for _, it := range old.hidden {
		if directory.SourceOf(it.Key) == source {
			if err := hb.Delete([]byte(it.Name)); err != nil {
				return err
			}
		}
	}
	for i := range hidden {
		if err := hb.Put([]byte(hidden[i].Name), encodeSummary(&hidden[i])); err != nil {
			return err
		}
	}
	return nil
}

// desire hashes the cards one source wants, by card name.
func (s *Store) desire(source string, people []directory.Entry, groups []directory.GroupEntry) (map[string]desired, error) {
	want := make(map[string]desired, len(people)+len(groups))
	var buf hashBuf
	add := func(key string, d desired) error {
		if directory.SourceOf(key) != source {
			return fmt.Errorf("store: source %q holds %s", source, key)
		}
		name := directory.CardUID(key)
		if _, dup := want[name]; dup {
			return fmt.Errorf("store: two cards with key %s", key)
		}
		want[name] = d
		return nil
	}
	for i := range people {
		e := &people[i]
		if err := add(e.Key, desired{kind: KindPerson, person: e, hash: hashPerson(&buf, s.opt.Fingerprint, e)}); err != nil {
			return nil, err
		}
	}
	for i := range groups {
		g := &groups[i]
		if err := add(g.Key, desired{kind: KindGroup, group: g, hash: hashGroup(&buf, s.opt.Fingerprint, g)}); err != nil {
			return nil, err
		}
	}
	return want, nil
}

// clearTombstone removes the tombstone of a card that comes back, so the
// change index holds one entry per name.
func clearTombstone(tx *bolt.Tx, name string) error {
	idx := tx.Bucket(bTombIdx)
	k := idx.Get([]byte(name))
	if k == nil {
		return nil
	}
	k = append([]byte(nil), k...)
	if err := tx.Bucket(bChanges).Delete(k); err != nil {
		return err
	}
	if err := tx.Bucket(bTombs).Delete(k); err != nil {
		return err
	}
	return idx.Delete([]byte(name))
}

// pruneTombstones drops tombstones older than the retention and raises the
// horizon: tokens from before it cannot be answered incrementally any more.
func (s *Store) pruneTombstones(tx *bolt.Tx, now time.Time) error {
	meta, ch, tombs, idx := tx.Bucket(bMeta), tx.Bucket(bChanges), tx.Bucket(bTombs), tx.Bucket(bTombIdx)
	cutoff := now.Add(-s.opt.Retention)
	horizon := getU64(meta, kHorizon)
	c := tombs.Cursor()
	type tomb struct{ rev, name []byte }
	var drop []tomb
	for k, v := c.First(); k != nil; k, v = c.Next() {
		cv := ch.Get(k)
		if cv != nil && changeTime(cv).After(cutoff) {
			break
		}
		drop = append(drop, tomb{append([]byte(nil), k...), append([]byte(nil), v...)})
	}
	for _, t := range drop {
		if err := ch.Delete(t.rev); err != nil {
			return err
		}
		if err := tombs.Delete(t.rev); err != nil {
			return err
		}
		if err := idx.Delete(t.name); err != nil {
			return err
		}
		horizon = max(horizon, binary.BigEndian.Uint64(t.rev))
	}
	putU64(meta, kHorizon, horizon)
	return nil
}

// Change is one entry of the directory change index.
type Change struct {
	Rev     uint64
	Name    string
	ID      string // a deleted list contact's id
	Deleted bool
}

// Changes calls fn for each directory change after since, in revision order,
// until fn returns false. Each card appears at most once: at its latest change.
func (s *Store) Changes(since uint64, fn func(Change) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bChanges).Cursor()
		for k, v := c.Seek(u64(since + 1)); k != nil; k, v = c.Next() {
			name, id, _ := strings.Cut(string(v[9:]), "\x00")
			if !fn(Change{Rev: binary.BigEndian.Uint64(k), Name: name, ID: id, Deleted: v[0] == opDelete}) {
				return nil
			}
		}
		return nil
	})
}

// Person reads the full entry behind a person card.
func (s *Store) Person(name string) (*directory.Entry, error) {
	var e *directory.Entry
	err := s.readItem(name, KindPerson, func(data []byte) (err error) {
		e, err = decodePerson(data)
		return err
	})
	return e, err
}

// Group reads the full entry behind a group card.
func (s *Store) Group(name string) (*directory.GroupEntry, error) {
	var g *directory.GroupEntry
	err := s.readItem(name, KindGroup, func(data []byte) (err error) {
		g, err = decodeGroup(data)
		return err
	})
	return g, err
}

// ErrNotFound is returned for a card that does not exist.
var ErrNotFound = errors.New("not found")

func (s *Store) readItem(name string, kind Kind, decode func([]byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bItems).Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		r, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("store: item %s: %w", name, err)
		}
		if r.kind != kind {
			return ErrNotFound
		}
		if err := decode(r.data); err != nil {
			return fmt.Errorf("store: item %s: %w", name, err)
		}
		return nil
	})
}

// SaveView remembers the facts behind a view fingerprint, so a later sync
// with a token of that view can tell what the viewer's change of view
// changed for them. Saving a known view is free.
func (s *Store) SaveView(fp string, v directory.View) error {
	known := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		known = tx.Bucket(bViews).Get([]byte(fp)) != nil
		return nil
	})
	if known {
		return nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bViews).Put([]byte(fp), data)
	})
}

// View returns the view saved under fp.
func (s *Store) View(fp string) (directory.View, bool, error) {
	var v directory.View
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bViews).Get([]byte(fp))
		if data == nil {
			return nil
		}
		found = true
		return json.Unmarshal(data, &v)
	})
	return v, found, err
}

// Rev is the store's latest revision: of the directory, the shared lists
// and their removals alike.
func (s *Store) Rev() uint64 {
	var rev uint64
	_ = s.db.View(func(tx *bolt.Tx) error {
		rev = getU64(tx.Bucket(bMeta), kRev)
		return nil
	})
	return rev
}

// Stats are sizes for metrics and health checks.
type Stats struct {
	People, Groups int
	Rev            uint64
}

// Stats returns the current sizes.
func (s *Store) Stats() Stats {
	ix := s.Index()
	return Stats{People: ix.People, Groups: ix.Groups, Rev: ix.Rev}
}

// Ping checks that the database answers.
func (s *Store) Ping() error {
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta) == nil {
			return errors.New("store: meta bucket missing")
		}
		return nil
	})
}

// loadRecord decodes a stored record and the person or group entry in it.
func loadRecord(k, v []byte) (record, *directory.Entry, *directory.GroupEntry, error) {
	r, err := decodeRecord(v)
	if err != nil {
		return r, nil, nil, fmt.Errorf("store: item %s: %w", k, err)
	}
	e, g, err := decodeEntry(k, r)
	return r, e, g, err
}

// decodeEntry decodes the person or group entry in record r of item k.
func decodeEntry(k []byte, r record) (*directory.Entry, *directory.GroupEntry, error) {
	switch r.kind {
	case KindPerson:
		e, err := decodePerson(r.data)
		if err != nil {
			return nil, nil, fmt.Errorf("store: item %s: %w", k, err)
		}
		return e, nil, nil
	case KindGroup:
		g, err := decodeGroup(r.data)
		if err != nil {
			return nil, nil, fmt.Errorf("store: item %s: %w", k, err)
		}
		return nil, g, nil
	}
	return nil, nil, fmt.Errorf("store: item %s: unknown kind %q", k, r.kind)
}

type record struct {
	rev  uint64
	hash [16]byte
	kind Kind
	data []byte
}

func encodeRecord(rev uint64, hash [16]byte, kind Kind, data []byte) []byte {
	b := make([]byte, 25+len(data))
	binary.BigEndian.PutUint64(b, rev)
	copy(b[8:24], hash[:])
	b[24] = byte(kind)
	copy(b[25:], data)
	return b
}

func decodeRecord(b []byte) (record, error) {
	if len(b) < 25 {
		return record{}, errors.New("short record")
	}
	var r record
	r.rev = binary.BigEndian.Uint64(b)
	copy(r.hash[:], b[8:24])
	r.kind = Kind(b[24])
	r.data = b[25:]
	return r, nil
}

func changeValue(op byte, t time.Time, name string) []byte {
	b := make([]byte, 9+len(name))
	b[0] = op
	binary.BigEndian.PutUint64(b[1:9], uint64(t.Unix()))
	copy(b[9:], name)
	return b
}

func changeTime(v []byte) time.Time {
	if len(v) < 9 {
		return time.Time{}
	}
	return time.Unix(int64(binary.BigEndian.Uint64(v[1:9])), 0)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putU64(b *bolt.Bucket, k []byte, v uint64) {
	// Put only fails on a read-only tx or a bad key; neither happens here.
	_ = b.Put(k, u64(v))
}
