package contactfile

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
	"golang.org/x/text/encoding/unicode"
)

func TestParseDetectsFormatAndReadsEveryRecordOfTheFixtures(t *testing.T) {
	for _, tc := range []struct {
		file    string
		format  Format
		lines   []int
		skipped map[int]string // by line
	}{
		{"outlook.csv", FormatCSV, []int{2, 5, 6, 7}, map[int]string{7: skipNothing}},
		{"outlook-utf8-bom.csv", FormatCSV, []int{2, 4}, nil},
		{"outlook-semicolon.csv", FormatCSV, []int{2, 3}, nil},
		{"google.csv", FormatCSV, []int{2, 7, 10, 11}, map[int]string{11: skipNothing}},
		{"google-legacy.csv", FormatCSV, []int{2, 5}, nil},
		{"apple.vcf", FormatVCard, []int{1, 37, 53}, map[int]string{53: skipGroup}},
		{"android.vcf", FormatVCard, []int{1, 27, 35}, nil},
		{"thunderbird4.vcf", FormatVCard, []int{1, 17}, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			entries, format := mustParse(t, fixture(t, tc.file))
			if format != tc.format {
				t.Errorf("format %q, want %q", format, tc.format)
			}
			var lines []int
			for _, e := range entries {
				lines = append(lines, e.Line)
				switch want := tc.skipped[e.Line]; {
				case e.Skip != want:
					t.Errorf("line %d: skip %q, want %q", e.Line, e.Skip, want)
				case want != "" && e.Card != nil:
					t.Errorf("line %d: a skipped entry has a card", e.Line)
				case want == "" && e.Card.Value(vcard.FieldFormattedName) == "":
					t.Errorf("line %d: a contact without FN", e.Line)
				case want == "" && e.Card.Value(vcard.FieldVersion) != "4.0":
					t.Errorf("line %d: VERSION %q, want 4.0", e.Line, e.Card.Value(vcard.FieldVersion))
				}
			}
			if !slices.Equal(lines, tc.lines) {
				t.Errorf("entries start on lines %v, want %v", lines, tc.lines)
			}
		})
	}
}

func TestOutlookCSVInWindows1252IsReadByColumnName(t *testing.T) {
	entries, _ := mustParse(t, fixture(t, "outlook.csv"))
	hans, jane, acme := entries[0].Card, entries[1].Card, entries[2].Card

	t.Run("Windows-1252 bytes become UTF-8", func(t *testing.T) {
		if got := hans.Value(vcard.FieldFormattedName); got != "Hans Peter Müller" {
			t.Errorf("FN %q", got)
		}
		if got := jane.Value(vcard.FieldOrganization); got != "Café Central" {
			t.Errorf("ORG %q", got)
		}
	})
	t.Run("Title is the name prefix beside Job Title", func(t *testing.T) {
		if got := hans.Value(vcard.FieldName); got != "Müller;Hans;Peter;Dr.;" {
			t.Errorf("N %q", got)
		}
		if got := hans.Value(vcard.FieldTitle); got != "Leiter Vertrieb" {
			t.Errorf("TITLE %q", got)
		}
	})
	t.Run("a multi-line quoted street stays one address", func(t *testing.T) {
		adr := field(t, hans, vcard.FieldAddress)
		if adr.Value != ";;Hauptstraße 1\nHinterhaus, 2. OG;Berlin;;10115;Germany" || !adr.Params.HasType("work") {
			t.Errorf("ADR %v %q", adr.Params, adr.Value)
		}
	})
	t.Run("both e-mails, in order", func(t *testing.T) {
		if got := hans.Values(vcard.FieldEmail); !slices.Equal(got, []string{"hans.mueller@example.de", "hans@example.org"}) {
			t.Errorf("EMAIL %q", got)
		}
	})
	t.Run("phones get the type of their column", func(t *testing.T) {
		want := map[string]string{"+49 30 1234568": "work fax", "+49 30 1234567": "work", "+49 30 7654321": "home", "+49 170 1234567": "cell"}
		for _, f := range hans[vcard.FieldTelephone] {
			if got := strings.Join(f.Params.Types(), " "); got != want[f.Value] {
				t.Errorf("TEL %s: types %q, want %q", f.Value, got, want[f.Value])
			}
		}
		if got := acme[vcard.FieldTelephone][1]; !got.Params.HasType("main") || !got.Params.HasType("work") {
			t.Errorf("Company Main Phone: %v", got.Params)
		}
	})
	t.Run("dates, with 0/0/00 meaning none", func(t *testing.T) {
		if hans.Value(vcard.FieldBirthday) != "19750307" || hans.Value(vcard.FieldAnniversary) != "20010601" {
			t.Errorf("BDAY %q ANNIVERSARY %q", hans.Value(vcard.FieldBirthday), hans.Value(vcard.FieldAnniversary))
		}
		if jane[vcard.FieldBirthday] != nil || jane[vcard.FieldAnniversary] != nil {
			t.Errorf("0/0/00 became a date: %s", dump(jane))
		}
	})
	t.Run("categories, notes, spouse and gender", func(t *testing.T) {
		if got := hans.Categories(); !slices.Equal(got, []string{"Kunden", "Berlin"}) {
			t.Errorf("CATEGORIES %q", got)
		}
		if got := hans.Value(vcard.FieldNote); got != "Kunde seit 2019.\nTrifft sich gern im \"Café am Eck\"." {
			t.Errorf("NOTE %q", got)
		}
		if rel := field(t, hans, vcard.FieldRelated); rel.Value != "Anna Müller" || !rel.Params.HasType("spouse") {
			t.Errorf("RELATED %v %q", rel.Params, rel.Value)
		}
		if sex, _ := jane.Gender(); sex != vcard.SexFemale {
			t.Errorf("GENDER %q", sex)
		}
	})
	t.Run("unknown columns are kept by name, Outlook's defaults are not", func(t *testing.T) {
		kept := map[string]string{}
		for _, f := range hans[fieldCSV] {
			kept[f.Params.Get(paramCSVName)] = f.Value
		}
		want := map[string]string{"Hobby": "Segeln", "Initials": "H.P.M.", "User 1": "Kdnr. 4711"}
		if len(kept) != len(want) {
			t.Errorf("kept %v, want %v", kept, want)
		}
		for k, v := range want {
			if kept[k] != v {
				t.Errorf("column %s: kept %q, want %q", k, kept[k], v)
			}
		}
	})
	t.Run("a company without a person is named after it", func(t *testing.T) {
		if acme.Value(vcard.FieldFormattedName) != "ACME Corp" || acme[vcard.FieldName] != nil {
			t.Errorf("%s", dump(acme))
		}
		if got := acme.Value(vcard.FieldAddress); got != "PO Box 42;;1 Road Runner Way;Phoenix;AZ;85001;United States of America" {
			t.Errorf("ADR %q", got)
		}
	})
}

func TestOutlookVariantsAreRead(t *testing.T) {
	t.Run("Outlook.com: UTF-8 with a byte-order mark, its own column order", func(t *testing.T) {
		entries, _ := mustParse(t, fixture(t, "outlook-utf8-bom.csv"))
		zoe, taro := entries[0].Card, entries[1].Card
		if zoe.Value(vcard.FieldFormattedName) != "Zoë Çelik" || zoe.Value(vcard.FieldOrganization) != "Globex, Inc." {
			t.Errorf("%s", dump(zoe))
		}
		if got := zoe.Value(vcard.FieldAddress); got != ";;;東京;;;日本" {
			t.Errorf("ADR %q", got)
		}
		if taro.Value("X-PHONETIC-FIRST-NAME") != "タロウ" || taro.Value("X-PHONETIC-LAST-NAME") != "ヤマダ" {
			t.Errorf("Yomi columns: %s", dump(taro))
		}
	})
	t.Run("European: semicolons, day-first dates, a separator inside quotes", func(t *testing.T) {
		entries, _ := mustParse(t, fixture(t, "outlook-semicolon.csv"))
		j, e := entries[0].Card, entries[1].Card
		if got := splitParts(j.Value(vcard.FieldOrganization)); got[0] != "Bäckerei Weiß; Filiale Süd" {
			t.Errorf("ORG %q", got)
		}
		if j.Value(vcard.FieldNote) != "Preis: 2,50 € pro Stück" {
			t.Errorf("NOTE %q", j.Value(vcard.FieldNote))
		}
		if j.Value(vcard.FieldBirthday) != "19700307" || e.Value(vcard.FieldBirthday) != "19851225" {
			t.Errorf("BDAY %q, %q", j.Value(vcard.FieldBirthday), e.Value(vcard.FieldBirthday))
		}
	})
}

func TestGoogleCSVMultiValuesLabelsAndPrimaries(t *testing.T) {
	entries, _ := mustParse(t, fixture(t, "google.csv"))
	zoe, taro, phoneOnly := entries[0].Card, entries[1].Card, entries[2].Card
	t.Run("\" ::: \" makes several properties; \"* \" marks the first primary", func(t *testing.T) {
		emails := zoe[vcard.FieldEmail]
		if len(emails) != 3 || emails[0].Value != "zoe@globex.example" || emails[1].Value != "z.celik@globex.example" {
			t.Fatalf("EMAIL %s", dump(zoe))
		}
		if !isPref(emails[0]) || isPref(emails[1]) || !emails[1].Params.HasType("work") || !emails[2].Params.HasType("home") {
			t.Errorf("EMAIL params %v %v %v", emails[0].Params, emails[1].Params, emails[2].Params)
		}
		if got := zoe.Values(vcard.FieldTelephone); len(got) != 4 {
			t.Errorf("TEL %q", got)
		}
	})
	t.Run("a custom label is kept as Apple keeps it", func(t *testing.T) {
		voice := zoe[vcard.FieldTelephone][2]
		label := groupLabels(zoe)[voice.Group]
		if voice.Value != "+1 415 555 0199" || voice.Group == "" || label != "Google Voice" {
			t.Errorf("TEL %q in group %q labelled %q", voice.Value, voice.Group, label)
		}
	})
	t.Run("starred system labels are dropped, the user's become categories", func(t *testing.T) {
		if got := zoe.Categories(); !slices.Equal(got, []string{"Suppliers"}) {
			t.Errorf("CATEGORIES %q", got)
		}
		if got := taro.Categories(); !slices.Equal(got, []string{"Friends", "Tokyo office"}) {
			t.Errorf("CATEGORIES %q", got)
		}
	})
	t.Run("a birthday without a year, a photo URL, an address with its formatted form", func(t *testing.T) {
		if zoe.Value(vcard.FieldBirthday) != "--0307" {
			t.Errorf("BDAY %q", zoe.Value(vcard.FieldBirthday))
		}
		if zoe.Value(vcard.FieldPhoto) != "https://lh3.googleusercontent.com/contacts/AG6tpzE1x2y3" {
			t.Errorf("PHOTO %q", zoe.Value(vcard.FieldPhoto))
		}
		adr := field(t, zoe, vcard.FieldAddress)
		if adr.Value != ";Bâtiment B;1 Place Bellecour;Lyon;;69002;FR" || adr.Params.Get("LABEL") != "1 Place Bellecour\nBâtiment B\n69002 Lyon\nFR" {
			t.Errorf("ADR %v %q", adr.Params, adr.Value)
		}
	})
	t.Run("Chinese, Japanese and Korean names are written family name first", func(t *testing.T) {
		if got := taro.Value(vcard.FieldFormattedName); got != "山田太郎" {
			t.Errorf("FN %q", got)
		}
	})
	t.Run("a row with only a phone is named by it", func(t *testing.T) {
		if got := phoneOnly.Value(vcard.FieldFormattedName); got != "+49 171 5550123" {
			t.Errorf("FN %q", got)
		}
	})
	t.Run("legacy layout: Name, Type columns and Group Membership", func(t *testing.T) {
		entries, _ := mustParse(t, fixture(t, "google-legacy.csv"))
		hans, info := entries[0].Card, entries[1].Card
		if hans.Value(vcard.FieldFormattedName) != "Hans Müller" || hans.Value(vcard.FieldOrganization) != "Müller & Söhne GmbH;Vertrieb" {
			t.Errorf("%s", dump(hans))
		}
		if !slices.Equal(hans.Categories(), []string{"Kunden"}) || !isPref(hans[vcard.FieldEmail][0]) {
			t.Errorf("%s", dump(hans))
		}
		if info.Value(vcard.FieldFormattedName) != "info@example.com" {
			t.Errorf("%s", dump(info))
		}
	})
}

func TestUTF16FilesReadLikeTheirUTF8Original(t *testing.T) {
	orig := fixture(t, "google.csv")
	want, _ := mustParse(t, orig)
	for _, order := range []unicode.Endianness{unicode.LittleEndian, unicode.BigEndian} {
		data, err := unicode.UTF16(order, unicode.UseBOM).NewEncoder().Bytes(orig)
		if err != nil {
			t.Fatal(err)
		}
		got, format := mustParse(t, data)
		if format != FormatCSV {
			t.Errorf("format %q", format)
		}
		sameCards(t, contacts(want), contacts(got))
	}
}

func TestCSVRecordsAsRealFilesWriteThem(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       [][]string // FN, NOTE of each contact
	}{
		{"LF rows, no final line end", "Name,Notes\nA,x\nB,y", [][]string{{"A", "x"}, {"B", "y"}}},
		{"CRLF rows and a final empty line", "Name,Notes\r\nA,x\r\n\r\n", [][]string{{"A", "x"}}},
		{"quotes doubled inside a quoted field", "Name,Notes\n\"A \"\"Al\"\" B\",\"say \"\"hi\"\"\"\n", [][]string{{`A "Al" B`, `say "hi"`}}},
		{"line ends inside quotes", "Name,Notes\nA,\"one\r\ntwo\rthree\nfour\"\n", [][]string{{"A", "one\ntwo\nthree\nfour"}}},
		{"tab-separated", "Name\tNotes\nA\tx, y\n", [][]string{{"A", "x, y"}}},
		{"fewer fields than the header", "Name,Notes,E-mail\nA\n", [][]string{{"A", ""}}},
		{"empty rows are skipped", "Name,Notes\n,\n  ,  \nA,x\n", [][]string{{"A", "x"}}},
		{"a space before a quoted field", "Name;Notes\nA; \"x;y\"\n", [][]string{{"A", "x;y"}}},
		{"trailing empty fields beyond the header", "Name,Notes\nA,x,,\n", [][]string{{"A", "x"}}},
		{"a stray byte in a file marked UTF-8", "\xef\xbb\xbfName,Notes\nMüller,a\xffb\n", [][]string{{"Müller", "a\uFFFDb"}}},
		{"Windows-1252 without a mark", "Name,Notes\nM\xfcller,\x80 5\n", [][]string{{"Müller", "€ 5"}}},
		{"Excel's sep= line", "sep=;\nName;Notes\nA;x,y\n", [][]string{{"A", "x,y"}}},
		{"a quote inside an unquoted field is text", "Name,Notes\nA,5'11\" tall\n", [][]string{{"A", `5'11" tall`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := ParseCSV([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			cards := contacts(entries)
			if len(cards) != len(tc.want) {
				t.Fatalf("%d contacts, want %d", len(cards), len(tc.want))
			}
			for i, w := range tc.want {
				if fn, note := cards[i].Value(vcard.FieldFormattedName), cards[i].Value(vcard.FieldNote); fn != w[0] || note != w[1] {
					t.Errorf("contact %d: FN %q NOTE %q, want %q", i, fn, note, w)
				}
			}
		})
	}
}

func TestCSVDates(t *testing.T) {
	for _, tc := range []struct {
		in       string
		dayFirst bool
		want     string // "" for none, "?" for unreadable
	}{
		{"3/7/1975", false, "19750307"},
		{"3/7/1975", true, "19750703"},
		{"25/12/1985", false, "19851225"},
		{"07.03.1970", false, "19700307"},
		{"1980-03-07", false, "19800307"},
		{"1980-03-07 00:00:00", false, "19800307"},
		{"19800307", false, "19800307"},
		{"--03-07", false, "--0307"},
		{"3/7/1604", false, "--0307"},
		{"0/0/00", false, ""},
		{"2/30/1980", false, "?"},
		{"next Tuesday", false, "?"},
	} {
		d, zero, ok := parseCSVDate(tc.in, tc.dayFirst)
		got := d.vcard()
		switch {
		case zero:
			got = ""
		case !ok:
			got = "?"
		}
		if got != tc.want {
			t.Errorf("%q (day first %v): %q, want %q", tc.in, tc.dayFirst, got, tc.want)
		}
	}
}

func TestExchangeAddressesAreKeptButAreNotEmail(t *testing.T) {
	data := "First Name,E-mail Address,E-mail Type,E-mail 2 Address,E-mail 2 Type\n" +
		"Ann,/o=ExchangeLabs/ou=Exchange Administrative Group/cn=Recipients/cn=ann,EX,ann@example.com,SMTP\n"
	entries, err := ParseCSV([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	c := entries[0].Card
	if got := c.Values(vcard.FieldEmail); !slices.Equal(got, []string{"ann@example.com"}) {
		t.Errorf("EMAIL %q", got)
	}
	if len(c[fieldCSV]) != 2 {
		t.Errorf("kept %s", dump(c))
	}
	var out bytes.Buffer
	if err := WriteCSV(&out, []vcard.Card{c}, Outlook); err != nil {
		t.Fatal(err)
	}
	back, err := ParseCSV(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	sameCards(t, []vcard.Card{c}, contacts(back))
}
