package store

import (
	"bytes"

	"github.com/orgdav/orgdav/directory"
	bolt "go.etcd.io/bbolt"
)

// Reader reads the cards a request needs in one read transaction, not
// one per card: a full download reads thousands, and a transaction costs
// more than a card's read. It starts the transaction at the first read
// and renews it now and then, so a long answer never pins old pages for
// long. Not safe for concurrent use; Close ends it.
type Reader struct {
	s     *Store
	tx    *bolt.Tx
	items *bolt.Cursor // one cursor for every look-up: bolt's Get makes one each
	key   []byte
	n     int
	e     directory.Entry // WithPerson's, reused
}

// readerRenew is how many reads a Reader's transaction serves.
const readerRenew = 1000

// NewReader returns a reader; it holds nothing until it reads.
func (s *Store) NewReader() *Reader { return &Reader{s: s} }

// Close ends the reader's transaction.
func (r *Reader) Close() {
	if r != nil && r.tx != nil {
		r.tx.Rollback()
		r.tx, r.items = nil, nil
	}
}

func (r *Reader) record(name string, kind Kind) ([]byte, error) {
	if r.tx != nil && r.n >= readerRenew {
		r.Close()
	}
	if r.tx == nil {
		tx, err := r.s.db.Begin(false)
		if err != nil {
			return nil, err
		}
		r.tx, r.items, r.n = tx, tx.Bucket(bItems).Cursor(), 0
	}
	r.n++
	r.key = append(r.key[:0], name...)
	k, v := r.items.Seek(r.key)
	if v == nil || !bytes.Equal(k, r.key) {
		return nil, ErrNotFound
	}
	r.s.noteRead(len(v))
	rec, err := decodeRecord(v)
	if err != nil || rec.kind != kind {
		return nil, ErrNotFound
	}
	return rec.data, nil
}

// Person reads the full entry behind a person card.
func (r *Reader) Person(name string) (*directory.Entry, error) {
	if r == nil {
		return nil, ErrNotFound
	}
	data, err := r.record(name, KindPerson)
	if err != nil {
		return nil, err
	}
	// decodePerson copies what it keeps: nothing points into the
	// transaction's pages once it ends.
	return decodePerson(data)
}

// WithPerson decodes the entry behind a person card and passes it to fn
// without copying it out of the database: fn must not keep the entry or
// anything in it once it returns. Rendering a card this way saves the
// copy of every record a full download reads.
func (r *Reader) WithPerson(name string, fn func(*directory.Entry)) error {
	if r == nil {
		return ErrNotFound
	}
	data, err := r.record(name, KindPerson)
	if err != nil {
		return err
	}
	if err := decodePersonInto(data, &r.e); err != nil {
		return err
	}
	fn(&r.e)
	return nil
}
