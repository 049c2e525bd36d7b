package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/orgdav/orgdav/directory"
	bolt "go.etcd.io/bbolt"
)

// Directory cards are stored in a compact binary form: the canonical,
// length-prefixed encoding the content hash is computed over, after a
// marker byte JSON never starts with. Decoding it costs a fraction of
// JSON's (no field names, photos as bytes rather than base64 text), and
// a full sync decodes every card. Records written as JSON by earlier
// versions are still read, and recoded at start.
const codecBinary = 0x01

// appendPerson encodes e after b.
func appendPerson(b []byte, e *directory.Entry) []byte {
	var h hashBuf
	h.b = append(b, codecBinary)
	h.person(e)
	return h.b
}

// appendGroup encodes g after b.
func appendGroup(b []byte, g *directory.GroupEntry) []byte {
	var h hashBuf
	h.b = append(b, codecBinary)
	h.group(g)
	return h.b
}

var errCodec = errors.New("malformed record")

// decoder reads the canonical encoding. Strings point into one copy of
// the record, made once, so decoding allocates little.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) n() int {
	v, w := binary.Uvarint(d.b)
	if w <= 0 || v > uint64(len(d.b)) {
		d.err, d.b = errCodec, nil
		return 0
	}
	d.b = d.b[w:]
	return int(v)
}

func (d *decoder) bytes() []byte {
	n := d.n()
	if n > len(d.b) {
		d.err, d.b = errCodec, nil
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string {
	p := d.bytes()
	if len(p) == 0 {
		return ""
	}
	return unsafe.String(&p[0], len(p))
}

func (d *decoder) strs() []string { return d.strsInto(nil) }

// strsInto is strs reusing dst's room.
func (d *decoder) strsInto(dst []string) []string {
	n := d.n()
	if n == 0 || d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.err = errCodec
		return nil
	}
	out := slices.Grow(dst[:0], n)[:n]
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) flag() bool { return d.n() == 1 }

// decodePerson reads a person record's data, binary or JSON.
func decodePerson(data []byte) (*directory.Entry, error) {
	// A binary entry's strings and photo point into what it is decoded
	// from: a copy, so the entry may outlive data.
	if len(data) > 0 && data[0] == codecBinary {
		data = append([]byte(nil), data...)
	}
	var e directory.Entry
	return &e, decodePersonInto(data, &e)
}

// decodePersonInto decodes a person record's data into an entry whose
// slices it reuses, so a reader decoding one card after another allocates
// nothing. The entry's strings and photo point into data, which must
// outlive it.
func decodePersonInto(data []byte, e *directory.Entry) error {
	emails, ims, phones, groups, addr := e.Emails, e.IMs, e.Phones, e.Groups, e.Address
	*e = directory.Entry{}
	if len(data) == 0 || data[0] != codecBinary {
		return json.Unmarshal(data, e)
	}
	d := &decoder{b: data[1:]}
	p := &e.Person
	e.Key = d.str()
	for _, s := range []*string{&p.ID, &p.Username, &p.GivenName, &p.FamilyName, &p.DisplayName, &p.Title, &p.Department,
		&p.Company, &p.Office, &p.ManagerID, &p.Website, &p.Notes, &p.Birthday, &p.EmployeeID} {
		*s = d.str()
	}
	p.Emails = d.strsInto(emails)
	p.IMs = d.strsInto(ims)
	if n := d.n(); n > 0 && n <= len(d.b) {
		p.Phones = slices.Grow(phones[:0], n)[:n]
		for i := range p.Phones {
			p.Phones[i] = directory.Phone{Kind: directory.PhoneKind(d.str()), Number: d.str()}
		}
	} else if n > 0 {
		d.err = errCodec
	}
	if d.flag() {
		if addr == nil {
			addr = &directory.Address{}
		}
		for _, s := range []*string{&addr.Street, &addr.City, &addr.Region, &addr.PostalCode, &addr.Country} {
			*s = d.str()
		}
		p.Address = addr
	}
	if photo := d.bytes(); len(photo) > 0 {
		p.Photo = photo
	}
	p.Hidden = d.flag()
	p.Disabled = d.flag()
	e.Groups = d.strsInto(groups)
	e.IsManager = d.flag()
	e.ManagerKey = d.str()
	e.ManagerName = d.str()
	if d.err != nil || len(d.b) != 0 {
		return errCodec
	}
	return nil
}

// decodeGroup reads a group record's data, binary or JSON.
func decodeGroup(data []byte) (*directory.GroupEntry, error) {
	var g directory.GroupEntry
	if len(data) == 0 || data[0] != codecBinary {
		err := json.Unmarshal(data, &g)
		return &g, err
	}
	d := &decoder{b: append([]byte(nil), data[1:]...)}
	g.Key, g.Name, g.Kind = d.str(), d.str(), directory.GroupKind(d.str())
	g.Members = d.strs()
	if d.err != nil || len(d.b) != 0 {
		return nil, errCodec
	}
	return &g, nil
}

var kCodec = []byte("codec")

// recode rewrites the directory records an earlier version wrote as JSON
// in the binary form, MaxWritesPerTx at a time: content, hash and
// revision stay, so nothing changes for clients; the store only shrinks
// and reads faster.
func (s *Store) recode() error {
	var done bool
	_ = s.db.View(func(tx *bolt.Tx) error {
		done = string(tx.Bucket(bMeta).Get(kCodec)) == "binary"
		return nil
	})
	var after []byte
	for !done {
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bItems)
			type put struct{ k, v []byte }
			var puts []put
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && string(k) == string(after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(puts) < MaxWritesPerTx; k, v = c.Next() {
				after = append(after[:0], k...)
				r, err := decodeRecord(v)
				if err != nil || len(r.data) == 0 || r.data[0] == codecBinary {
					continue
				}
				var data []byte
				switch r.kind {
				case KindPerson:
					e, err := decodePerson(r.data)
					if err != nil {
						return fmt.Errorf("store: recode %s: %w", k, err)
					}
					data = appendPerson(nil, e)
				case KindGroup:
					g, err := decodeGroup(r.data)
					if err != nil {
						return fmt.Errorf("store: recode %s: %w", k, err)
					}
					data = appendGroup(nil, g)
				default:
					continue
				}
				puts = append(puts, put{append([]byte(nil), k...), encodeRecord(r.rev, r.hash, r.kind, data)})
			}
			for _, p := range puts {
				if err := b.Put(p.k, p.v); err != nil {
					return err
				}
			}
			if k == nil {
				done = true
				return tx.Bucket(bMeta).Put(kCodec, []byte("binary"))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
