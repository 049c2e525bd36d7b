package store

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"unsafe"

	"github.com/orgdav/orgdav/directory"
)

// hashBuf feeds a canonical, length-prefixed encoding of an entry into
// SHA-256 or, without a hash, into its buffer: the stored record. Diffing a 100,000-person snapshot hashes every entry, so this
// avoids JSON: small fields are gathered in a buffer and written at once,
// large ones (photos) are written without a copy.
// TestEntryHashCoversEveryField keeps the encoding complete.
type hashBuf struct {
	h   hash.Hash
	b   []byte
	sum [sha256.Size]byte
}

const hashDirect = 512 // fields this large skip the buffer

func (h *hashBuf) n(v int) { h.b = binary.AppendUvarint(h.b, uint64(v)) }

func (h *hashBuf) str(s string) { h.bytes(unsafe.Slice(unsafe.StringData(s), len(s))) }

func (h *hashBuf) bytes(p []byte) {
	h.n(len(p))
	if len(p) < hashDirect || h.h == nil { // no hash: the encoding is the record
		h.b = append(h.b, p...)
		return
	}
	h.h.Write(h.b)
	h.b = h.b[:0]
	h.h.Write(p)
}

func (h *hashBuf) strs(ss []string) {
	h.n(len(ss))
	for _, s := range ss {
		h.str(s)
	}
}

func (h *hashBuf) flag(v bool) {
	if v {
		h.n(1)
	} else {
		h.n(0)
	}
}

func (h *hashBuf) person(e *directory.Entry) {
	p := &e.Person
	h.str(e.Key)
	for _, s := range []string{p.ID, p.Username, p.GivenName, p.FamilyName, p.DisplayName, p.Title, p.Department,
		p.Company, p.Office, p.ManagerID, p.Website, p.Notes, p.Birthday, p.EmployeeID} {
		h.str(s)
	}
	h.strs(p.Emails)
	h.strs(p.IMs)
	h.n(len(p.Phones))
	for _, ph := range p.Phones {
		h.str(string(ph.Kind))
		h.str(ph.Number)
	}
	h.flag(p.Address != nil)
	if a := p.Address; a != nil {
		for _, s := range []string{a.Street, a.City, a.Region, a.PostalCode, a.Country} {
			h.str(s)
		}
	}
	h.bytes(p.Photo)
	h.flag(p.Hidden)
	h.flag(p.Disabled)
	h.strs(e.Groups)
	h.flag(e.IsManager)
	h.str(e.ManagerKey)
	h.str(e.ManagerName)
}

func (h *hashBuf) group(g *directory.GroupEntry) {
	h.str(g.Key)
	h.str(g.Name)
	h.str(string(g.Kind))
	h.strs(g.Members)
}

func (h *hashBuf) start(fp string, kind Kind) {
	if h.h == nil {
		h.h = sha256.New()
	}
	h.h.Reset()
	h.b = h.b[:0]
	h.str(fp)
	h.n(int(kind))
}

func (h *hashBuf) finish() [16]byte {
	h.h.Write(h.b)
	var out [16]byte
	copy(out[:], h.h.Sum(h.sum[:0]))
	return out
}

func hashPerson(buf *hashBuf, fp string, e *directory.Entry) [16]byte {
	buf.start(fp, KindPerson)
	buf.person(e)
	return buf.finish()
}

func hashGroup(buf *hashBuf, fp string, g *directory.GroupEntry) [16]byte {
	buf.start(fp, KindGroup)
	buf.group(g)
	return buf.finish()
}
