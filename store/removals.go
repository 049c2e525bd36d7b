package store

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The runner holds a source's removals that add up past a share of its
// people within a window, however they arrive (one full run or many small
// incremental ones). The store remembers what each apply removed, in the
// apply's own transaction, so the sum survives restarts.
var (
	bRemovals = []byte("removals") // source "/" time -> people removed
	bHolds    = []byte("holds")    // source -> when a run of it was first held
)

// RemovalHistory is how long removals are remembered: the longest window
// the guard may look back.
const RemovalHistory = 30 * 24 * time.Hour

func removalKey(source string, t time.Time) []byte {
	return binary.BigEndian.AppendUint64([]byte(source+"/"), uint64(t.UnixNano()))
}

// recordRemovals remembers that an apply removed n people of source at
// now, and forgets the source's removals older than RemovalHistory.
func recordRemovals(tx *bolt.Tx, source string, n int, now time.Time) error {
	b := tx.Bucket(bRemovals)
	prefix := []byte(source + "/")
	cutoff := removalKey(source, now.Add(-RemovalHistory))
	c := b.Cursor()
	for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix) && bytes.Compare(k, cutoff) < 0; k, _ = c.Seek(prefix) {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	k := removalKey(source, now)
	if v := b.Get(k); len(v) == 8 {
		n += int(binary.BigEndian.Uint64(v))
	}
	return b.Put(k, u64(uint64(n)))
}

// RemovedSince returns how many people of source applies removed after t.
func (s *Store) RemovedSince(source string, t time.Time) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := []byte(source + "/")
		c := tx.Bucket(bRemovals).Cursor()
		for k, v := c.Seek(removalKey(source, t)); bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) == 8 {
				n += int(binary.BigEndian.Uint64(v))
			}
		}
		return nil
	})
	return n, err
}

// HeldSince returns when a run of source was first held, or the zero time
// when none waits for confirmation.
func (s *Store) HeldSince(source string) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bHolds).Get([]byte(source)); len(v) == 8 {
			t = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	return t, err
}

// SetHeld records when a run of source was first held; the zero time
// clears it.
func (s *Store) SetHeld(source string, t time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if t.IsZero() {
			return tx.Bucket(bHolds).Delete([]byte(source))
		}
		return tx.Bucket(bHolds).Put([]byte(source), u64(uint64(t.UnixNano())))
	})
}

// ForgetRemovals clears what source's applies removed and its hold: an
// admin confirmed them, so later removals are counted afresh.
func (s *Store) ForgetRemovals(source string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRemovals)
		prefix := []byte(source + "/")
		c := b.Cursor()
		for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return tx.Bucket(bHolds).Delete([]byte(source))
	})
}
