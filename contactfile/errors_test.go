package contactfile

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBrokenFilesAreRefusedWholeWithTheLineAtFault(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x08\x00\x00\x00\x08\x08\x02\x00\x00\x00\x4b\x6d\x29\xde")
	card := func(body string) string { return "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\n" + body + "END:VCARD\r\n" }
	for _, tc := range []struct {
		name string
		data []byte
		line int
		msg  string // the error's start
	}{
		{"an unbalanced quote names the line where the field started", []byte("First Name,Notes\nAnn,ok\nBob,\"never\nclosed\nat all\n"), 3,
			"line 3: unbalanced quote in field 2"},
		{"a PNG is not a text file", png, 2, "line 2: not a text file (binary data)"},
		{"UTF-16 without a byte-order mark is binary", []byte("F\x00i\x00r\x00s\x00t\x00"), 1, "line 1: not a text file (binary data)"},
		{"mostly control bytes", []byte("Name\n\x01\x02\x03\x04\x05\x06\x07\x08"), 2, "line 2: not a text file (binary data)"},
		{"an empty file", []byte("\xef\xbb\xbf \r\n"), 0, "the file is empty"},
		{"a row with more fields than the header", []byte("First Name,Last Name\nAnn,Lee\nBob,Ray,Oops\n"), 3,
			"line 3: the row has 3 fields but the header has 2"},
		{"no column a contact could be made of", []byte("Foo,Bar\n1,2\n"), 1,
			`line 1: no known contact columns (expected e.g. "First Name" or "E-mail Address")`},
		{"only blank rows", []byte(",,\n,,\n"), 0, "the file has no header row"},
		{"an unknown CHARSET", []byte(card("NOTE;CHARSET=x-klingon;ENCODING=QUOTED-PRINTABLE:=41\r\n")), 4, `line 4: unknown charset "x-klingon"`},
		{"a card missing END:VCARD", []byte(card("") + "BEGIN:VCARD\r\nFN:B\r\n"), 5, "line 5: the card that starts here has no END:VCARD"},
		{"a card cut by the next one", []byte("BEGIN:VCARD\r\nFN:A\r\nBEGIN:VCARD\r\nFN:B\r\nEND:VCARD\r\n"), 1,
			"line 1: the card that starts here has no END:VCARD (line 3 begins another)"},
		{"text outside the cards", []byte(card("") + "\r\nhello there\r\n"), 6, `line 6: text outside a vCard (hello there)`},
		{"a line without a colon", []byte(card("NOTE\r\n")), 4, "line 4: no ':' between the property's name and its value"},
		{"an unclosed quoted parameter", []byte(card("ADR;LABEL=\"Main St:;;x\r\n")), 4, "line 4: a quoted parameter value is not closed"},
		{"a bad property name", []byte(card("X ME:1\r\n")), 4, `line 4: property name "X ME": want letters, digits and -`},
		{"damaged base64", []byte(card("PHOTO;ENCODING=b;TYPE=JPEG:%%%\r\n")), 4, "line 4: PHOTO: the base64 data is damaged"},
		{"a grouped END", []byte(card("item1.END:VCARD\r\n")), 4, "line 4: item1.END inside a card"},
		{"END of something else", []byte("BEGIN:VCARD\r\nFN:A\r\nEND:VCALENDAR\r\n"), 3, "line 3: END:VCALENDAR does not end a vCard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, _, err := Parse(tc.data)
			if entries != nil {
				t.Errorf("%d entries with the error", len(entries))
			}
			pe := parseError(t, err)
			if pe.Line != tc.line || !strings.HasPrefix(pe.Error(), tc.msg) {
				t.Errorf("error %q (line %d), want %q (line %d)", pe.Error(), pe.Line, tc.msg, tc.line)
			}
		})
	}
}

func TestAFileOverTheSizeLimitIsRefusedAtOnce(t *testing.T) {
	data := bytes.Repeat([]byte("First Name,E-mail Address\nAnn,ann@example.com\n"), 50<<20/47)
	for _, parse := range []func([]byte) error{
		func(b []byte) error { _, _, err := Parse(b); return err },
		func(b []byte) error { _, err := ParseCSV(b); return err },
		func(b []byte) error { _, err := ParseVCard(b); return err },
	} {
		start := time.Now()
		err := parse(data)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("took %v to refuse", d)
		}
		if pe := parseError(t, err); pe.Line != 0 || pe.Error() != "file is larger than 32 MiB" {
			t.Errorf("error %q (line %d)", pe.Error(), pe.Line)
		}
	}
}

func TestMoreThanMaxCardsIsRefusedAtTheFirstOneTooMany(t *testing.T) {
	var vcf, csv bytes.Buffer
	csv.WriteString("First Name\n")
	for i := range MaxCards + 1 {
		fmt.Fprintf(&vcf, "BEGIN:VCARD\nFN:%d\nEND:VCARD\n", i)
		fmt.Fprintf(&csv, "%d\n", i)
	}
	for _, tc := range []struct {
		name string
		data []byte
		line int
	}{
		{"vCard", vcf.Bytes(), 3*MaxCards + 1},
		{"CSV", csv.Bytes(), MaxCards + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, _, err := Parse(tc.data)
			pe := parseError(t, err)
			if entries != nil || pe.Line != tc.line || !strings.Contains(pe.Msg, "more than 50000 contacts") {
				t.Errorf("error %q (line %d), want line %d", pe.Error(), pe.Line, tc.line)
			}
		})
	}
}
