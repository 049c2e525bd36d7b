package contactfile

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
)

// writeAndRead writes cards as CSV and reads them back.
func writeAndRead(t *testing.T, cards []vcard.Card, flavor CSVFlavor) ([]vcard.Card, []byte) {
	t.Helper()
	var out bytes.Buffer
	if err := WriteCSV(&out, cards, flavor); err != nil {
		t.Fatal(err)
	}
	entries, err := ParseCSV(out.Bytes())
	if err != nil {
		t.Fatalf("reading back: %v\n%s", err, out.Bytes())
	}
	return contacts(entries), out.Bytes()
}

func TestCSVSurvivesWriteCSVOfItsFlavor(t *testing.T) {
	for _, tc := range []struct {
		file   string
		flavor CSVFlavor
		// lost are the properties the flavor has no column for.
		lost []string
	}{
		{"outlook.csv", Outlook, nil},
		{"outlook-semicolon.csv", Outlook, nil},
		{"outlook-utf8-bom.csv", Outlook, []string{vcard.FieldNickname, "X-PHONETIC-FIRST-NAME", "X-PHONETIC-LAST-NAME"}},
		{"google.csv", Google, nil},
		{"google-legacy.csv", Google, []string{vcard.FieldGender, vcard.FieldRole}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			entries, _ := mustParse(t, fixture(t, tc.file))
			want := contacts(entries)
			got, _ := writeAndRead(t, want, tc.flavor)
			sameCards(t, without(want, tc.lost...), without(got, tc.lost...))
		})
	}
}

func TestWriteCSVLayouts(t *testing.T) {
	entries, _ := mustParse(t, fixture(t, "apple.vcf"))
	cards := contacts(entries)
	t.Run("Outlook: BOM, the documented header, CRLF, all quoted", func(t *testing.T) {
		var out bytes.Buffer
		if err := WriteCSV(&out, cards, Outlook); err != nil {
			t.Fatal(err)
		}
		b := out.Bytes()
		if !bytes.HasPrefix(b, bomUTF8) {
			t.Error("no byte-order mark")
		}
		header, _, _ := strings.Cut(string(b[len(bomUTF8):]), "\r\n")
		if want := `"` + strings.Join(outlookColumns, `","`) + `"`; header != want || len(outlookColumns) != 92 {
			t.Errorf("header %s", header)
		}
		// Line breaks inside fields (the street) are CRLF too, as Outlook writes them.
		if n := bytes.Count(b, []byte("\r\n")); n < 4 || bytes.Count(b, []byte("\n")) != n {
			t.Errorf("%d CRLF, %d LF", n, bytes.Count(b, []byte("\n")))
		}
	})
	t.Run("Google: no BOM, numbered groups as many as needed, labels", func(t *testing.T) {
		var out bytes.Buffer
		if err := WriteCSV(&out, cards, Google); err != nil {
			t.Fatal(err)
		}
		b := out.String()
		if strings.HasPrefix(b, "\uFEFF") {
			t.Error("a byte-order mark")
		}
		header, _, _ := strings.Cut(b, "\r\n")
		for _, want := range []string{"First Name,Middle Name,Last Name,", "E-mail 2 - Value", "Phone 3 - Label", "Address 1 - Extended Address", "Website 1 - Value"} {
			if !strings.Contains(header, want) {
				t.Errorf("header lacks %q: %s", want, header)
			}
		}
		for _, want := range []string{"* myContacts ::: Kunden ::: Berlin", "* Work,hans.mueller@example.de", "Zentrale,+49 30 7654321", "* Mobile,+49 170 1234567", "HomePage"} {
			if !strings.Contains(b, want) {
				t.Errorf("no %q in\n%s", want, b)
			}
		}
	})
	t.Run("an unknown flavor is an error", func(t *testing.T) {
		if err := WriteCSV(&bytes.Buffer{}, cards, "excel"); err == nil {
			t.Error("no error")
		}
	})
}

func TestVCardSurvivesEncode(t *testing.T) {
	for _, tc := range []struct {
		file     string
		versions []string
	}{
		{"apple.vcf", []string{"3.0", "4.0"}},
		{"android.vcf", []string{"3.0", "4.0"}},
		{"thunderbird4.vcf", []string{"4.0"}}, // 3.0 has no tel: URIs
	} {
		entries, _ := mustParse(t, fixture(t, tc.file))
		want := contacts(entries)
		for _, version := range tc.versions {
			t.Run(tc.file+" as "+version, func(t *testing.T) {
				var file []byte
				for _, c := range want {
					b, err := Encode(c, version)
					if err != nil {
						t.Fatal(err)
					}
					file = append(file, b...)
				}
				back, _ := mustParse(t, file)
				sameCards(t, want, contacts(back))
			})
		}
	}
}

func TestAVCardWrittenAsCSVKeepsWhatTheLayoutHas(t *testing.T) {
	entries, _ := mustParse(t, fixture(t, "android.vcf"))
	cards := contacts(entries)
	for _, flavor := range []CSVFlavor{Outlook, Google} {
		got, _ := writeAndRead(t, cards, flavor)
		hans := got[0]
		if hans.Value(vcard.FieldFormattedName) != "Hans Müller" || hans.Address().StreetAddress != "Hauptstraße 1" {
			t.Errorf("%s: %s", flavor, dump(hans))
		}
		tels := hans.Values(vcard.FieldTelephone)
		slices.Sort(tels) // in the order of the layout's columns
		if strings.Join(tels, "|") != "+49 170 1234567|+49 30 1234567" {
			t.Errorf("%s: TEL %q", flavor, tels)
		}
	}
}
