package contactfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
)

// seedFixtures adds the fixtures whose names match pattern.
func seedFixtures(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures %s: %v", pattern, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkEntries checks what every parse promises: entries or an *Error,
// never both; each entry a contact with FN or a skip without a card;
// every card encodes in both versions and reads back, in 4.0 unchanged.
func checkEntries(t *testing.T, entries []Entry, err error) {
	if err != nil {
		if entries != nil {
			t.Fatalf("%d entries and the error %v", len(entries), err)
		}
		parseError(t, err)
		return
	}
	for _, e := range entries {
		if e.Line < 1 {
			t.Fatalf("entry at line %d", e.Line)
		}
		if e.Skip != "" {
			if e.Card != nil {
				t.Fatalf("line %d: skipped (%s) with a card", e.Line, e.Skip)
			}
			continue
		}
		if e.Card.Value(vcard.FieldFormattedName) == "" {
			t.Fatalf("line %d: a contact without FN: %s", e.Line, dump(e.Card))
		}
		for _, version := range []string{"3.0", "4.0"} {
			b, err := Encode(e.Card, version)
			if err != nil {
				t.Fatalf("line %d: Encode %s: %v", e.Line, version, err)
			}
			back, err := ParseVCard(b)
			if err != nil || len(back) != 1 || back[0].Skip != "" {
				t.Fatalf("line %d: Encode %s reads back as %+v, %v:\n%s", e.Line, version, back, err, b)
			}
			if version == "4.0" && !reflect.DeepEqual(e.Card, back[0].Card) {
				t.Fatalf("line %d: changed by Encode 4.0:%s\n%s", e.Line, cardDiff(e.Card, back[0].Card), b)
			}
		}
	}
}

// cardDiff shows the properties that differ, in full.
func cardDiff(want, got vcard.Card) string {
	var b strings.Builder
	for k := range want {
		if !reflect.DeepEqual(want[k], got[k]) {
			fmt.Fprintf(&b, "\n%s: want", k)
			for _, f := range want[k] {
				fmt.Fprintf(&b, " %#v", *f)
			}
			b.WriteString("\n   got")
			for _, f := range got[k] {
				fmt.Fprintf(&b, " %#v", *f)
			}
		}
	}
	for k := range got {
		if want[k] == nil {
			fmt.Fprintf(&b, "\n%s: not wanted", k)
		}
	}
	return b.String()
}

func FuzzParseCSV(f *testing.F) {
	seedFixtures(f, "*.csv")
	f.Add([]byte("Name,Notes\n\"a\"\"b\",\"c\nd\"\n"))
	f.Add([]byte("E-mail 1 - Label,E-mail 1 - Value\n* Work,a@b ::: c@d\n"))
	f.Add([]byte("First Name;Birthday;Categories\nA;07.03.1970;x;y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseCSV(data)
		checkEntries(t, entries, err)
		if err != nil {
			return
		}
		// What was read can be written in both layouts and read again.
		cards := contacts(entries)
		for _, flavor := range []CSVFlavor{Outlook, Google} {
			var out bytes.Buffer
			if err := WriteCSV(&out, cards, flavor); err != nil {
				t.Fatalf("WriteCSV %s: %v", flavor, err)
			}
			if len(cards) > 0 {
				if _, err := ParseCSV(out.Bytes()); err != nil {
					t.Fatalf("WriteCSV %s reads back with %v:\n%s", flavor, err, out.Bytes())
				}
			}
		}
	})
}

func FuzzParseVCard(f *testing.F) {
	seedFixtures(f, "*.vcf")
	f.Add([]byte("BEGIN:VCARD\nVERSION:2.1\nNOTE;ENCODING=QUOTED-PRINTABLE:a=\n=C3=BC\nEND:VCARD\n"))
	f.Add([]byte("BEGIN:VCARD\nitem1.TEL;TYPE=\"a,b\";X=^'q^':1\nitem1.X-ABLabel:x\\,y\nEND:VCARD"))
	f.Add([]byte("BEGIN:VCARD\nN:a\\;b;c\\\\;d\nCATEGORIES:x\\,y,z\nEND:VCARD"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseVCard(data)
		checkEntries(t, entries, err)
		all, _, err2 := Parse(data)
		if (err == nil) != (err2 == nil) && looksLikeVCard(data) {
			t.Fatalf("ParseVCard: %v; Parse: %v", err, err2)
		}
		checkEntries(t, all, err2)
	})
}
