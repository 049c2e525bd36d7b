package store

import (
	"bytes"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// A user's collections keep the properties PROPPATCH sets (a personal
// book's name, Apple's me-card, clients' own dead properties), in the
// user's bucket beside the personal cards.
var pProps = []byte("props") // scope "\x00" space "\x00" local -> value

// Property scopes: the collections whose properties may be written.
const (
	PropsHome     = "home"
	PropsPersonal = "personal"
)

// PropName names a property by XML namespace and local name.
type PropName struct{ Space, Local string }

// ErrTooManyProps means a collection would hold more properties than
// PatchProps allows.
var ErrTooManyProps = errors.New("too many properties on one collection")

func propKey(scope string, n PropName) []byte {
	return []byte(scope + "\x00" + n.Space + "\x00" + n.Local)
}

// Props returns the properties set on one of a user's collections.
func (s *Store) Props(user, scope string) (map[PropName]string, error) {
	out := map[PropName]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _ := userBucket(tx, user, false)
		if b == nil || b.Bucket(pProps) == nil {
			return nil
		}
		prefix := []byte(scope + "\x00")
		c := b.Bucket(pProps).Cursor()
		for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
			space, local, ok := bytes.Cut(k[len(prefix):], []byte{0})
			if ok {
				out[PropName{string(space), string(local)}] = string(v)
			}
		}
		return nil
	})
	return out, err
}

// PatchProps sets and removes properties of one collection, all or none,
// leaving it at most max properties. Removing one that is not set is no
// error (RFC 4918 14.23).
func (s *Store) PatchProps(user, scope string, set map[PropName]string, remove []PropName, max int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		u, err := userBucket(tx, user, true)
		if err != nil {
			return err
		}
		b, err := u.CreateBucketIfNotExists(pProps)
		if err != nil {
			return err
		}
		for _, n := range remove {
			if err := b.Delete(propKey(scope, n)); err != nil {
				return err
			}
		}
		for n, v := range set {
			if err := b.Put(propKey(scope, n), []byte(v)); err != nil {
				return err
			}
		}
		count := 0
		prefix := []byte(scope + "\x00")
		c := b.Cursor()
		for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			count++
		}
		if count > max {
			return ErrTooManyProps // the transaction rolls back
		}
		return nil
	})
}
