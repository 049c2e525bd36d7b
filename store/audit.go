package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The audit log: every change made through the admin API, who made it and
// what it did, kept like the run log.
var (
	bAudit    = []byte("audit")
	bResolved = []byte("resolved") // kind "\x00" name -> key
)

// MaxAudit bounds the audit entries kept.
const MaxAudit = 10000

// AuditEntry is one change made through the admin API.
type AuditEntry struct {
	ID     uint64    `json:"id"`
	Time   time.Time `json:"time"`
	Who    string    `json:"who"`    // the admin's login name, or "local" for the CLI on the server's machine
	Action string    `json:"action"` // e.g. "sync", "confirm", "create list", "import"
	Target string    `json:"target"` // what it was done to, e.g. a source
	// Before and After count what the change touched (people, contacts).
	Before int    `json:"before"`
	After  int    `json:"after"`
	Note   string `json:"note,omitempty"`
}

// Audit records an entry and drops the oldest beyond MaxAudit.
func (s *Store) Audit(e *AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = s.opt.Now()
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bAudit)
		if err != nil {
			return err
		}
		if e.ID, err = b.NextSequence(); err != nil {
			return err
		}
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := b.Put(u64(e.ID), data); err != nil {
			return err
		}
		if e.ID > MaxAudit {
			c := b.Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= e.ID-MaxAudit; k, _ = c.First() {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// AuditLog returns up to n entries, newest first.
func (s *Store) AuditLog(n int) ([]AuditEntry, error) {
	out := []AuditEntry{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Resolved returns the stable key a configured name (a login name, a group
// DN) was last found to name: once resolved, a rename of the user or group
// changes nothing.
func (s *Store) Resolved(kind, name string) (string, bool) {
	var key string
	s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bResolved); b != nil {
			key = string(b.Get([]byte(kind + "\x00" + name)))
		}
		return nil
	})
	return key, key != ""
}

// Resolve remembers the stable key a configured name names now.
func (s *Store) Resolve(kind, name, key string) error {
	if k, ok := s.Resolved(kind, name); ok && k == key {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bResolved)
		if err != nil {
			return err
		}
		return b.Put([]byte(kind+"\x00"+name), []byte(key))
	})
}
