// Package contactfile reads and writes the contact files people upload and download: CSV as Outlook, Google and Apple export it, and vCard files (2.1, 3.0, 4.0) with many cards.
//
// Every contact read becomes a vcard.Card with vCard 4.0 semantics:
// VERSION 4.0; text in UTF-8 whatever the file's encoding, quoted-
// printable and CHARSET undone; TYPE values in lower case, with "pref"
// (and a 2.1 bare PREF) turned into PREF=1 and an e-mail's "internet"
// dropped; inline photos as data: URIs; dates as 19800307, or --0307
// without a year; Apple's X-ADDRESSBOOKSERVER-KIND and -MEMBER as KIND
// and MEMBER. Every other property is kept, X- ones and property groups
// (item1.TEL with item1.X-ABLabel) included, and so is a UID.
//
// A Field's Value holds the text with the vCard escapes undone (a
// newline is "\n", a comma is ","), except where a character separates
// parts: in N, ADR, ORG, GENDER and CLIENTPIDMAP the components are
// separated by ";" and a semicolon inside a component stays "\;"; in
// CATEGORIES and NICKNAME the items are separated by "," and a comma
// inside an item stays "\,". This is what go-vcard's Name, Address and
// Categories helpers expect, and Encode writes it back unchanged.
//
// A CSV column this package does not map is not dropped: each non-empty
// cell becomes an X-ORGDAV-CSV property whose NAME parameter is the
// column's header, and WriteCSV puts it back into a column of that name.
// A label CSV exports give and vCard has no TYPE for ("Google Voice") is
// kept as Apple keeps it: the property in a group of its own
// (item1.TEL) beside an X-ABLabel property of that group. Phonetic names
// become Apple's X-PHONETIC-FIRST-NAME, -MIDDLE-NAME and -LAST-NAME, and
// Google's formatted address the ADR's LABEL parameter.
package contactfile

import (
	"bytes"
	"fmt"

	"github.com/emersion/go-vcard"
)

// MaxFileSize caps an uploaded file: 32 MiB.
const MaxFileSize = 32 << 20

// MaxCards caps the contacts of one file: 50000.
const MaxCards = 50000

// Entry is one contact read from a file.
type Entry struct {
	// Line is the 1-based line where the contact starts: the CSV row's
	// first line, or the BEGIN:VCARD line.
	Line int
	// Card is the contact with vCard 4.0 semantics (see the package
	// documentation); nil when Skip is set.
	Card vcard.Card
	// Skip says why this record is not a contact, such as "group card"
	// or "no name, e-mail or phone"; empty for a contact.
	Skip string
}

// Skip reasons, shown to the person who uploaded the file.
const (
	skipGroup   = "group card"
	skipNothing = "no name, e-mail or phone"
)

// Error is a parse failure. Line is 1-based, or 0 when the failure is not
// on one line (the file is too large, or empty).
type Error struct {
	Line int
	Msg  string
}

// Error reads "line 12: unbalanced quote in field 3", or the message
// alone when Line is 0.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

func errorf(line int, format string, args ...any) *Error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Format names a file format.
type Format string

// The formats Parse recognises.
const (
	FormatCSV   Format = "csv"
	FormatVCard Format = "vcard"
)

// Parse detects the format and the text encoding and reads every record.
// The file is a vCard file if, after an optional byte-order mark and
// blank lines, it starts with BEGIN:VCARD (in any case); otherwise it is
// CSV. Parse never returns a partial result: on any error it returns nil
// entries and an *Error, with the format when it got as far as detecting
// it.
func Parse(data []byte) ([]Entry, Format, error) {
	t, err := decodeText(data)
	if err != nil {
		return nil, "", err
	}
	if looksLikeVCard(t.data) {
		entries, err := readVCards(t)
		return entries, FormatVCard, err
	}
	entries, err := readCSV(t)
	return entries, FormatCSV, err
}

// ParseCSV reads a CSV export; see Parse.
func ParseCSV(data []byte) ([]Entry, error) {
	t, err := decodeText(data)
	if err != nil {
		return nil, err
	}
	return readCSV(t)
}

// ParseVCard reads a file of vCards (2.1, 3.0 or 4.0); see Parse.
func ParseVCard(data []byte) ([]Entry, error) {
	t, err := decodeText(data)
	if err != nil {
		return nil, err
	}
	return readVCards(t)
}

func looksLikeVCard(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	const begin = "BEGIN:VCARD"
	return len(data) >= len(begin) && bytes.EqualFold(data[:len(begin)], []byte(begin))
}

// tooMany is the error for the record that goes over MaxCards.
func tooMany(line int) *Error {
	return errorf(line, "more than %d contacts in one file: split it into smaller files", MaxCards)
}
