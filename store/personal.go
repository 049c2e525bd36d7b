package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A user's personal book lives in its own bucket under "personal":
//
//	items:   name -> rev(8) etag(20 hex) uid-len(2) uid raw-vcard
//	changes: rev  -> op(1) unix(8) name
//	uids:    uid  -> name
//	rev, horizon
var (
	pItems   = []byte("items")
	pChanges = []byte("changes")
	pUIDs    = []byte("uids")
)

// Conditions are a write's preconditions: Allow, when set, says whether
// the write may go ahead, given whether the card exists and its ETag. It
// runs inside the write's transaction, so no other write comes between.
type Conditions struct {
	Allow func(exists bool, etag string) bool
}

// ErrPrecondition means If-Match or If-None-Match failed.
var ErrPrecondition = errors.New("precondition failed")

// UIDConflictError means the write would give a UID to a second card of
// the book, or change a card's UID; Name is the card that holds it.
type UIDConflictError struct{ Name string }

func (e *UIDConflictError) Error() string { return "uid already used by " + e.Name }

// PersonalCard is one stored personal card.
type PersonalCard struct {
	Name string
	Rev  uint64
	ETag string
	UID  string
	Data []byte
}

// PersonalInfo is a personal book's revision state.
type PersonalInfo struct {
	Rev, Horizon uint64
	Count        int
}

func userBucket(tx *bolt.Tx, user string, create bool) (*bolt.Bucket, error) {
	root := tx.Bucket(bUsers)
	if !create {
		return root.Bucket([]byte(user)), nil
	}
	b, err := root.CreateBucketIfNotExists([]byte(user))
	if err != nil {
		return nil, err
	}
	for _, n := range [][]byte{pItems, pChanges, pUIDs} {
		if _, err := b.CreateBucketIfNotExists(n); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// PersonalInfo returns the book's revision and size.
func (s *Store) PersonalInfo(user string) (PersonalInfo, error) {
	var pi PersonalInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _ := userBucket(tx, user, false)
		if b == nil {
			return nil
		}
		pi.Rev, pi.Horizon = getU64(b, kRev), getU64(b, kHorizon)
		pi.Count = b.Bucket(pItems).Stats().KeyN
		return nil
	})
	return pi, err
}

// PersonalList calls fn for every card in name order, without its data.
func (s *Store) PersonalList(user string, fn func(PersonalCard) bool) error {
	return s.personalEach(user, false, fn)
}

// PersonalCards returns every card of a personal book with its data, read
// in one transaction: for import and export.
func (s *Store) PersonalCards(user string) ([]PersonalCard, error) {
	var out []PersonalCard
	err := s.personalEach(user, true, func(c PersonalCard) bool {
		out = append(out, c)
		return true
	})
	return out, err
}

func (s *Store) personalEach(user string, withData bool, fn func(PersonalCard) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		b, _ := userBucket(tx, user, false)
		if b == nil {
			return nil
		}
		return b.Bucket(pItems).ForEach(func(k, v []byte) error {
			c := decodePersonal(k, v, withData)
			if !fn(c) {
				return errStop
			}
			return nil
		})
	})
}

var errStop = errors.New("stop")

// PersonalGet returns one card with its data.
func (s *Store) PersonalGet(user, name string) (PersonalCard, error) {
	var c PersonalCard
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _ := userBucket(tx, user, false)
		if b == nil {
			return ErrNotFound
		}
		v := b.Bucket(pItems).Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		c = decodePersonal([]byte(name), v, true)
		return nil
	})
	return c, err
}

// PersonalChanges calls fn for each change after since in revision order.
func (s *Store) PersonalChanges(user string, since uint64, fn func(Change) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		b, _ := userBucket(tx, user, false)
		if b == nil {
			return nil
		}
		c := b.Bucket(pChanges).Cursor()
		for k, v := c.Seek(u64(since + 1)); k != nil; k, v = c.Next() {
			if !fn(Change{Rev: binary.BigEndian.Uint64(k), Name: string(v[9:]), Deleted: v[0] == opDelete}) {
				return nil
			}
		}
		return nil
	})
}

// PersonalPut stores data verbatim under name, checking the preconditions
// and UID uniqueness in the same transaction. It returns the new ETag and
// whether the card is new.
func (s *Store) PersonalPut(user, name, uid string, data []byte, cond Conditions) (etag string, created bool, err error) {
	now := s.opt.Now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := userBucket(tx, user, true)
		if err != nil {
			return err
		}
		if etag, created, err = personalPut(tx, b, name, uid, data, cond, now); err != nil {
			return err
		}
		return s.prunePersonal(b, now)
	})
	if err != nil {
		return "", false, err
	}
	return etag, created, nil
}

// PersonalWrite is one card of a personal-book import.
type PersonalWrite struct {
	Name, UID string
	Data      []byte
}

// PersonalPutAll stores cards in one transaction: all or nothing. It
// counts the cards created and changed.
func (s *Store) PersonalPutAll(user string, cards []PersonalWrite) (created, updated int, err error) {
	now := s.opt.Now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := userBucket(tx, user, true)
		if err != nil {
			return err
		}
		created, updated = 0, 0
		for _, c := range cards {
			before := getU64(b, kRev)
			_, isNew, err := personalPut(tx, b, c.Name, c.UID, c.Data, Conditions{}, now)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			switch {
			case isNew:
				created++
			case getU64(b, kRev) != before:
				updated++
			}
		}
		return s.prunePersonal(b, now)
	})
	return created, updated, err
}

func personalPut(tx *bolt.Tx, b *bolt.Bucket, name, uid string, data []byte, cond Conditions, now time.Time) (etag string, created bool, err error) {
	sum := sha256.Sum256(data)
	etag = hex.EncodeToString(sum[:10])
	items, ch, uids := b.Bucket(pItems), b.Bucket(pChanges), b.Bucket(pUIDs)
	old := items.Get([]byte(name))
	var oldCard PersonalCard
	if old != nil {
		oldCard = decodePersonal([]byte(name), old, false)
	}
	if err := checkConditions(old != nil, oldCard.ETag, cond); err != nil {
		return "", false, err
	}
	if other := uids.Get([]byte(uid)); other != nil && string(other) != name {
		return "", false, &UIDConflictError{Name: string(other)}
	}
	if old != nil && oldCard.UID != uid {
		// A resource keeps its UID (RFC 6352 6.3.2.1): another UID is
		// another contact, which belongs in a resource of its own.
		return "", false, &UIDConflictError{Name: name}
	}
	created = old == nil
	if !created && oldCard.ETag == etag {
		return etag, false, nil // identical content: no new revision
	}
	rev := getU64(tx.Bucket(bMeta), kRev) + 1
	putU64(tx.Bucket(bMeta), kRev, rev)
	if !created {
		if err := ch.Delete(u64(oldCard.Rev)); err != nil {
			return "", false, err
		}
	} else if err := clearPersonalTombstone(ch, name); err != nil {
		return "", false, err
	}
	if err := uids.Put([]byte(uid), []byte(name)); err != nil {
		return "", false, err
	}
	if err := items.Put([]byte(name), encodePersonal(rev, etag, uid, data)); err != nil {
		return "", false, err
	}
	if err := ch.Put(u64(rev), changeValue(opPut, now, name)); err != nil {
		return "", false, err
	}
	putU64(b, kRev, rev)
	return etag, created, nil
}

// PersonalDelete removes a card, leaving a tombstone.
func (s *Store) PersonalDelete(user, name string, cond Conditions) error {
	now := s.opt.Now()
	return s.db.Update(func(tx *bolt.Tx) error {
		b, _ := userBucket(tx, user, false)
		if b == nil {
			return ErrNotFound
		}
		items, ch, uids := b.Bucket(pItems), b.Bucket(pChanges), b.Bucket(pUIDs)
		old := items.Get([]byte(name))
		if old == nil {
			return ErrNotFound
		}
		oc := decodePersonal([]byte(name), old, false)
		if err := checkConditions(true, oc.ETag, cond); err != nil {
			return err
		}
		rev := getU64(tx.Bucket(bMeta), kRev) + 1
		putU64(tx.Bucket(bMeta), kRev, rev)
		if err := items.Delete([]byte(name)); err != nil {
			return err
		}
		if err := uids.Delete([]byte(oc.UID)); err != nil {
			return err
		}
		if err := ch.Delete(u64(oc.Rev)); err != nil {
			return err
		}
		if err := ch.Put(u64(rev), changeValue(opDelete, now, name)); err != nil {
			return err
		}
		putU64(b, kRev, rev)
		return s.prunePersonal(b, now)
	})
}

func checkConditions(exists bool, etag string, c Conditions) error {
	if c.Allow != nil && !c.Allow(exists, etag) {
		return ErrPrecondition
	}
	return nil
}

// clearPersonalTombstone drops the tombstone of a re-created name. Personal
// books are small, so a scan of the tombstones is cheap.
func clearPersonalTombstone(ch *bolt.Bucket, name string) error {
	c := ch.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v[0] == opDelete && string(v[9:]) == name {
			return ch.Delete(k)
		}
	}
	return nil
}

func (s *Store) prunePersonal(b *bolt.Bucket, now time.Time) error {
	cutoff := now.Add(-s.opt.Retention)
	ch := b.Bucket(pChanges)
	horizon := getU64(b, kHorizon)
	var drop [][]byte
	c := ch.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if changeTime(v).After(cutoff) {
			break
		}
		if v[0] == opDelete {
			drop = append(drop, append([]byte(nil), k...))
		}
	}
	for _, k := range drop {
		if err := ch.Delete(k); err != nil {
			return err
		}
		horizon = max(horizon, binary.BigEndian.Uint64(k))
	}
	putU64(b, kHorizon, horizon)
	return nil
}

func encodePersonal(rev uint64, etag, uid string, data []byte) []byte {
	b := make([]byte, 0, 8+20+2+len(uid)+len(data))
	b = binary.BigEndian.AppendUint64(b, rev)
	b = append(b, etag...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(uid)))
	b = append(b, uid...)
	return append(b, data...)
}

func decodePersonal(name, v []byte, withData bool) PersonalCard {
	c := PersonalCard{Name: string(name)}
	if len(v) < 30 {
		return c
	}
	c.Rev = binary.BigEndian.Uint64(v)
	c.ETag = string(v[8:28])
	n := int(binary.BigEndian.Uint16(v[28:30]))
	if len(v) < 30+n {
		return c
	}
	c.UID = string(v[30 : 30+n])
	if withData {
		c.Data = append([]byte(nil), v[30+n:]...)
	}
	return c
}

// maxUIDLen bounds a UID so it fits the record's length field.
const maxUIDLen = 1024

// ValidatePersonalUID checks a UID before it is stored.
func ValidatePersonalUID(uid string) error {
	if uid == "" || len(uid) > maxUIDLen {
		return fmt.Errorf("UID must be 1 to %d bytes", maxUIDLen)
	}
	return nil
}
