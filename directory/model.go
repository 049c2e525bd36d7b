// Package directory holds orgdav's model of an organisation (people, groups),
// the sources that read it, the normalisation that turns a source's raw
// snapshot into publishable entries, and the visibility rules that decide
// which fields a viewer may see.
package directory

import (
	"crypto/sha1"
	"encoding/hex"
	"slices"

	"github.com/google/uuid"
)

// Person is one person as a source reports it, after attribute mapping.
type Person struct {
	// ID is the directory's stable identifier (entryUUID, objectGUID, ...).
	// It must not change on rename, move or email change.
	ID          string   `json:"id"`
	Username    string   `json:"username,omitempty"`
	GivenName   string   `json:"given,omitempty"`
	FamilyName  string   `json:"family,omitempty"`
	DisplayName string   `json:"display,omitempty"`
	Emails      []string `json:"emails,omitempty"`
	Phones      []Phone  `json:"phones,omitempty"`
	Title       string   `json:"title,omitempty"`
	Department  string   `json:"department,omitempty"`
	Company     string   `json:"company,omitempty"`
	Office      string   `json:"office,omitempty"`
	Address     *Address `json:"address,omitempty"`
	// ManagerID is the directory ID of this person's manager in the same source.
	ManagerID string `json:"manager_id,omitempty"`
	Website   string `json:"website,omitempty"`
	// IMs are instant-messaging addresses as URIs (xmpp:, sip:, ...).
	IMs        []string `json:"ims,omitempty"`
	Notes      string   `json:"notes,omitempty"`
	Birthday   string   `json:"birthday,omitempty"` // YYYY-MM-DD, or --MM-DD without a year
	EmployeeID string   `json:"employee_id,omitempty"`
	Photo      []byte   `json:"photo,omitempty"` // JPEG
	Hidden     bool     `json:"-"`
	Disabled   bool     `json:"-"`
}

// PhoneKind says what a phone number is for.
type PhoneKind string

const (
	PhoneWork   PhoneKind = "work"
	PhoneMobile PhoneKind = "mobile"
	PhoneHome   PhoneKind = "home"
	PhoneFax    PhoneKind = "fax"
)

// Phone is one phone number.
type Phone struct {
	Kind   PhoneKind `json:"kind"`
	Number string    `json:"number"`
}

// Address is a postal address.
type Address struct {
	Street     string `json:"street,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// Group is a group as a source reports it: its direct members and subgroups.
type Group struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Members   []string `json:"members,omitempty"`   // person IDs
	Subgroups []string `json:"subgroups,omitempty"` // group IDs
}

// Snapshot is everything one source holds at one moment.
type Snapshot struct {
	Source string
	People []Person
	Groups []Group
	Skips  []Skip // entries the source left out, with the reason
}

// Entry is a person ready to publish: validated, with the facts derived from
// the whole snapshot that rendering and visibility need.
type Entry struct {
	Key    string `json:"key"` // source + "/" + directory ID
	Person `json:"person"`
	// Groups are the keys of every non-department group the person belongs
	// to, directly or through nesting, sorted.
	Groups []string `json:"groups,omitempty"`
	// IsManager is true when at least one published person reports to them.
	IsManager   bool   `json:"is_manager,omitempty"`
	ManagerKey  string `json:"manager_key,omitempty"`
	ManagerName string `json:"manager_name,omitempty"`
}

// GroupKind tells department groups (derived from the department
// attribute) from directory groups.
type GroupKind string

const (
	KindDepartment GroupKind = "department"
	KindGroup      GroupKind = "group"
)

// GroupEntry is a group ready to publish as a contact group.
type GroupEntry struct {
	Key     string    `json:"key"`
	Name    string    `json:"name"`
	Kind    GroupKind `json:"kind"`
	Members []string  `json:"members"` // person keys, effective (nesting resolved), sorted
}

// Published is a normalised snapshot: what the store applies for one source.
type Published struct {
	Source string
	People []Entry
	Groups []GroupEntry
	// Hidden people are in scope and may log in, but appear in no book.
	Hidden  []Entry
	Skipped []Skip

	ix *pubIndex // Patch's look-ups, built on first use
	// named holds every directory group, published or not, by folded
	// name (the first by key of those sharing one): a department of that
	// name publishes its people in that group's card, not a second group
	// of the same name.
	named map[string]namedGroup
}

// Skip records a person or value left out of a run and why.
type Skip struct {
	ID     string
	Reason string
	// Excluded marks people left out by design (hidden, disabled, out of
	// scope), as opposed to entries or values that are wrong.
	Excluded bool
}

// cardNamespace roots card UIDs; changing it would change every UID.
var cardNamespace = uuid.MustParse("0f1d6c5e-8a49-5b6a-9c1e-6f7267646176")

// CardUID derives the stable card UID (and href name) from an entry key.
func CardUID(key string) string {
	return string(AppendCardUID(make([]byte, 0, 36), key))
}

// AppendCardUID appends CardUID(key), the name-based (version 5) UUID of
// key in cardNamespace, to dst without allocating: a group card names
// every member by UID, thousands per rendering.
func AppendCardUID(dst []byte, key string) []byte {
	var buf [256]byte
	in := buf[:0]
	if 16+len(key) > len(buf) {
		in = make([]byte, 0, 16+len(key))
	}
	in = append(append(in, cardNamespace[:]...), key...)
	sum := sha1.Sum(in)
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5, RFC 9562 5.5
	u[8] = u[8]&0x3f | 0x80 // the RFC's variant
	dst = hex.AppendEncode(dst, u[0:4])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[4:6])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[6:8])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[8:10])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, u[10:16])
}

// View is the set of facts about a viewer that decide what they see.
type View struct {
	Department string   `json:"department,omitempty"`
	Groups     []string `json:"groups,omitempty"` // sorted group keys
	IsManager  bool     `json:"is_manager,omitempty"`
	// Lists are the shared lists the viewer receives in their Company
	// book; Edits the ones they edit, each a book of its own. Sorted ids.
	Lists []string `json:"lists,omitempty"`
	Edits []string `json:"edits,omitempty"`
}

// Receives reports whether the view's Company book holds a shared list.
func (v *View) Receives(list string) bool {
	_, ok := slices.BinarySearch(v.Lists, list)
	return ok
}

// Editor reports whether the viewer edits a shared list.
func (v *View) Editor(list string) bool {
	_, ok := slices.BinarySearch(v.Edits, list)
	return ok
}
