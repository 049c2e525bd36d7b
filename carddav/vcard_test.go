package carddav

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
	"github.com/orgdav/orgdav/directory"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenPerson has every field, values with the characters vCard escapes,
// non-ASCII text long enough to fold, and a photo.
func goldenPerson() *directory.Entry {
	return &directory.Entry{
		Key: directory.PersonKey("demo", "golden-1"),
		Person: directory.Person{
			ID: "golden-1", Username: "zoe", GivenName: "Zoë", FamilyName: "Łukasiewicz-Straße",
			DisplayName: "Zoë Łukasiewicz-Straße", Emails: []string{"zoe@example.org", "z.l@corp.example.org"},
			Phones: []directory.Phone{{Kind: directory.PhoneWork, Number: "+1 555 0100"}, {Kind: directory.PhoneMobile, Number: "+49 151 123"},
				{Kind: directory.PhoneHome, Number: "+49 30 123"}, {Kind: directory.PhoneFax, Number: "+1 555 0199"}},
			Title: "Director, Sales; EMEA \\ APAC", Department: "Research & Development", Company: "Example Org, Inc.",
			Office:     "日本語のオフィス; 東京タワー, 3階 — a long office name that certainly needs folding",
			Address:    &directory.Address{Street: "1 Example Street\nSuite 2", City: "Kraków", PostalCode: "31-001", Country: "Poland"},
			Website:    "https://example.org/people/zoe",
			IMs:        []string{"xmpp:zoe@example.org", "sip:zoe@example.org"},
			Notes:      "Line one;\nline two, with comma",
			Birthday:   "--05-17",
			EmployeeID: "E000042",
			Photo:      []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xFF, 0xD9},
		},
		ManagerKey: directory.PersonKey("demo", "m"), ManagerName: "محمد العلي",
	}
}

func goldenGroup() *directory.GroupEntry {
	return &directory.GroupEntry{Key: directory.GroupKey("demo", "g"), Name: "Support, Level 2", Kind: directory.KindGroup,
		Members: []string{directory.PersonKey("demo", "a"), directory.PersonKey("demo", "b")}}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./carddav -run Golden -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	restricted := directory.AllFields &^ (1 << directory.FieldMobile) &^ (1 << directory.FieldHomePhone) &^ (1 << directory.FieldPhoto) &^ (1 << directory.FieldNotes)
	uid := directory.CardUID(goldenPerson().Key)
	cases := []struct {
		file string
		data []byte
	}{
		{"person-all-3.0.vcf", renderPersonAs(uid, goldenPerson(), directory.AllFields, false)},
		{"person-all-4.0.vcf", renderPersonAs(uid, goldenPerson(), directory.AllFields, true)},
		{"person-restricted-3.0.vcf", renderPersonAs(uid, goldenPerson(), restricted, false)},
		{"person-names-only-3.0.vcf", renderPersonAs(uid, goldenPerson(), 0, false)},
		{"group-3.0.vcf", renderGroup(goldenGroup(), false)},
		{"group-4.0.vcf", renderGroup(goldenGroup(), true)},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) { checkGolden(t, c.file, c.data) })
	}
}

func TestRenderedCardsParseAndFoldOnUTF8Boundaries(t *testing.T) {
	for _, v4 := range []bool{false, true} {
		e := goldenPerson()
		data := renderPersonAs(directory.CardUID(e.Key), e, directory.AllFields, v4)
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n") {
			if len(line) > 75 {
				t.Errorf("line of %d octets: %q", len(line), line)
			}
			if !utf8.ValidString(line) {
				t.Errorf("fold split a UTF-8 sequence: %q", line)
			}
		}
		card, err := vcard.NewDecoder(bytes.NewReader(data)).Decode()
		if err != nil {
			t.Fatalf("rendered card does not parse: %v", err)
		}
		if got := card.Value(vcard.FieldFormattedName); got != "Zoë Łukasiewicz-Straße" {
			t.Errorf("FN round trip: %q", got)
		}
		// go-vcard does not unescape \; (see GO-WEBDAV.md), so the
		// round trip of escaping is checked with the RFC's own rules.
		for _, l := range unfold(data) {
			cl, _ := parseLine(l.text)
			if cl.name == "TITLE" && textUnescaper.Replace(cl.value) != `Director, Sales; EMEA \ APAC` {
				t.Errorf("TITLE round trip (escaping): %q", cl.value)
			}
			if cl.name == "NOTE" && textUnescaper.Replace(cl.value) != "Line one;\nline two, with comma" {
				t.Errorf("NOTE round trip (escaping): %q", cl.value)
			}
		}
	}
}

func TestEscapeText(t *testing.T) {
	cases := map[string]string{
		"plain":         "plain",
		"a,b":           `a\,b`,
		"a;b":           `a\;b`,
		`back\slash`:    `back\\slash`,
		"two\nlines":    `two\nlines`,
		"crlf\r\nlines": `crlf\nlines`,
		`all,;\` + "\n": `all\,\;\\\n`,
	}
	for in, want := range cases {
		if got := string(appendEscaped(nil, in)); got != want {
			t.Errorf("appendEscaped(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderHonoursMask(t *testing.T) {
	e := goldenPerson()
	uid := directory.CardUID(e.Key)
	full, none := unfoldedText(renderPersonAs(uid, e, directory.AllFields, false)), unfoldedText(renderPersonAs(uid, e, 0, false))
	for _, secret := range []string{"+49 151 123", "+49 30 123", "Line one", "PHOTO", "E000042", "Kraków", "zoe@example.org"} {
		if !strings.Contains(full, secret) {
			t.Errorf("full card lacks %q", secret)
		}
		if strings.Contains(none, secret) {
			t.Errorf("names-only card leaks %q", secret)
		}
	}
}

func TestConvertPersonalCardBetweenVersions(t *testing.T) {
	v3 := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x1\r\nFN:Kim\r\nN:Kim;;;;\r\nitem1.EMAIL;type=INTERNET;type=pref:kim@example.org\r\n" +
		"item1.X-ABLabel:_$!<Other>!$_\r\nBDAY;X-APPLE-OMIT-YEAR=1604:1604-03-09\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ\r\nEND:VCARD\r\n"
	v4 := string(convertCard([]byte(v3), true))
	for _, want := range []string{"VERSION:4.0", "PHOTO:data:image/jpeg;base64,/9j/4AAQ", "BDAY:--0309", "PREF=1", "item1.X-ABLabel:_$!<Other>!$_"} {
		if !strings.Contains(v4, want) {
			t.Errorf("3.0 -> 4.0 lacks %q:\n%s", want, v4)
		}
	}
	if strings.Contains(v4, "INTERNET") {
		t.Errorf("3.0 -> 4.0 kept TYPE=INTERNET:\n%s", v4)
	}
	back := string(convertCard([]byte(v4), false))
	for _, want := range []string{"VERSION:3.0", "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ", "BDAY;X-APPLE-OMIT-YEAR=1604:1604-03-09", "TYPE=pref"} {
		if !strings.Contains(back, want) {
			t.Errorf("4.0 -> 3.0 lacks %q:\n%s", want, back)
		}
	}
	group4 := "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:g\r\nFN:G\r\nKIND:group\r\nMEMBER:urn:uuid:x1\r\nEND:VCARD\r\n"
	g3 := string(convertCard([]byte(group4), false))
	if !strings.Contains(g3, "X-ADDRESSBOOKSERVER-KIND:group") || !strings.Contains(g3, "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:x1") {
		t.Errorf("group 4.0 -> 3.0:\n%s", g3)
	}
	if got := convertCard([]byte(v3), false); string(got) != v3 {
		t.Error("a card in the wanted version was not served verbatim")
	}
}

// unfoldedText is a card's content lines, unfolded, one per line.
func unfoldedText(data []byte) string {
	var out []string
	for _, l := range unfold(data) {
		out = append(out, l.text)
	}
	return strings.Join(out, "\n")
}

func TestUploadedCardsAreCheckedAndTheErrorNamesTheLine(t *testing.T) {
	const head = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\r\n"
	cases := []struct {
		name, card, err string // err "": accepted
	}{
		{"valid 3.0", head + "N:A;;;;\r\nEND:VCARD\r\n", ""},
		{"valid 4.0 with LF only", "BEGIN:VCARD\nVERSION:4.0\nUID:a\nFN:A\nEND:VCARD\n", ""},
		{"folded lines and a quoted parameter", head + "NOTE;X-A=\"a:b;c\":one\r\n  two\r\n\tthree\r\nitem1.EMAIL;TYPE=INTERNET:a@b\r\nEND:VCARD\r\n", ""},
		{"no UID", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n", "0 UID properties"},
		{"two UIDs", head + "UID:b\r\nEND:VCARD\r\n", "2 UID properties"},
		{"no FN", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nEND:VCARD\r\n", "FN missing"},
		{"version 2.1", "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:a\r\nFN:A\r\nEND:VCARD\r\n", `VERSION "2.1" not supported`},
		{"two cards", head + "END:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nUID:b\r\nFN:B\r\nEND:VCARD\r\n", "line 6: more after END:VCARD"},
		{"not a vCard", "hello", "the first line must be BEGIN:VCARD"},
		{"no END", head, "END:VCARD missing"},
		{"NUL", head + "NOTE:a\x00b\r\nEND:VCARD\r\n", "line 5: control character U+0000"},
		{"another control character", head + "NOTE:a\x1bb\r\nEND:VCARD\r\n", "line 5: control character U+001B"},
		{"invalid UTF-8", head + "NOTE:caf\xe9\r\nEND:VCARD\r\n", "line 5: byte 0xE9 is not UTF-8"},
		{"U+FFFE", head + "NOTE:a\uFFFEb\r\nEND:VCARD\r\n", "line 5: U+FFFE"},
		{"an unterminated quoted parameter", head + "EMAIL;TYPE=\"unterminated:x@y\r\nEND:VCARD\r\n", "line 5: a quoted parameter value is not closed"},
		{"a line without a colon", head + "NOTE\r\nEND:VCARD\r\n", "line 5: no ':'"},
		{"a bad property name", head + "NO TE:x\r\nEND:VCARD\r\n", `line 5: property name "NO TE"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := checkCard([]byte(c.card))
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
		})
	}
}

func TestStoredTextThatCannotBeServedIsRepaired(t *testing.T) {
	bad := []byte("NOTE:a\x00b\x1b\xe9\uFFFEc\r\n")
	got := repairText(bad)
	if err := checkText(got); err != nil || string(got) != "NOTE:ab\uFFFDc\r\n" {
		t.Fatalf("repaired %q: %v", got, err)
	}
}

func TestConversionKeepsALineItCannotParse(t *testing.T) {
	stored := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\r\nEMAIL;TYPE=\"unterminated:x@y\r\nEND:VCARD\r\n"
	if v4 := string(convertCard([]byte(stored), true)); !strings.Contains(v4, "EMAIL;TYPE=\"unterminated:x@y\r\n") || !strings.Contains(v4, "VERSION:4.0") {
		t.Fatalf("4.0 of a card with an unclosed quoted parameter:\n%s", v4)
	}
}

// appendEscaped escapes as the standard library's replacer of the same
// pairs does (the oracle it replaced, for speed).
func FuzzAppendEscapedMatchesTheReplacer(f *testing.F) {
	oracle := strings.NewReplacer(`\`, `\\`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`, ",", `\,`, ";", `\;`)
	for _, s := range []string{"", "plain", "a,b;c\\d", "line\r\nbreak\nand\rmore\r", "\r\r\n\n", "é,\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendEscaped(nil, s)), oracle.Replace(s); got != want {
			t.Fatalf("%q: %q, want %q", s, got, want)
		}
	})
}
