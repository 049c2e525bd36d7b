package store

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/orgdav/orgdav/directory"
)

// hashBuf builds a canonical, length-prefixed encoding of an entry for its
// content hash. Diffing a 100,000-person snapshot hashes every entry, so
// this avoids JSON; TestEntryHashCoversEveryField keeps it complete.
type hashBuf struct{ b []byte }

func (h *hashBuf) str(s string) {
	h.b = binary.AppendUvarint(h.b, uint64(len(s)))
	h.b = append(h.b, s...)
}

func (h *hashBuf) bytes(p []byte) {
	h.b = binary.AppendUvarint(h.b, uint64(len(p)))
	h.b = append(h.b, p...)
}

func (h *hashBuf) strs(ss []string) {
	h.b = binary.AppendUvarint(h.b, uint64(len(ss)))
	for _, s := range ss {
		h.str(s)
	}
}

func (h *hashBuf) flag(v bool) {
	if v {
		h.b = append(h.b, 1)
	} else {
		h.b = append(h.b, 0)
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
	h.b = binary.AppendUvarint(h.b, uint64(len(p.Phones)))
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

// sum hashes the fingerprint, the kind and the encoded entry.
func (h *hashBuf) sum(fp string, kind Kind) [16]byte {
	full := sha256.Sum256(h.b)
	// Prefixing the fingerprint after the fact keeps the hot buffer reusable.
	x := make([]byte, 0, len(fp)+1+len(full))
	x = append(append(append(x, fp...), byte(kind)), full[:]...)
	s := sha256.Sum256(x)
	var out [16]byte
	copy(out[:], s[:])
	return out
}

func hashPerson(buf *hashBuf, fp string, e *directory.Entry) [16]byte {
	buf.b = buf.b[:0]
	buf.person(e)
	return buf.sum(fp, KindPerson)
}

func hashGroup(buf *hashBuf, fp string, g *directory.GroupEntry) [16]byte {
	buf.b = buf.b[:0]
	buf.group(g)
	return buf.sum(fp, KindGroup)
}
