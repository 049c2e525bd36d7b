package contactfile

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/emersion/go-vcard"
)

// outlookFile writes n Outlook rows of the fields people fill in.
func outlookFile(tb testing.TB, n int) []byte {
	cards := make([]vcard.Card, n)
	for i := range cards {
		c := vcard.Card{}
		c.SetValue(vcard.FieldName, joinParts(fmt.Sprintf("Müller-%d", i), "Hans", "Peter", "Dr.", ""))
		c.SetValue(vcard.FieldFormattedName, "Hans Peter Müller")
		c.SetValue(vcard.FieldOrganization, joinParts("Müller & Söhne GmbH", "Vertrieb"))
		c.SetValue(vcard.FieldTitle, "Leiter Vertrieb")
		c.Add(vcard.FieldAddress, &vcard.Field{Value: ";;Hauptstraße 1\nHinterhaus;Berlin;;10115;Germany", Params: vcard.Params{"TYPE": {"work"}}})
		c.Add(vcard.FieldTelephone, &vcard.Field{Value: "+49 30 1234567", Params: vcard.Params{"TYPE": {"work"}}})
		c.Add(vcard.FieldTelephone, &vcard.Field{Value: "+49 170 1234567", Params: vcard.Params{"TYPE": {"cell"}}})
		c.AddValue(vcard.FieldEmail, fmt.Sprintf("hans.%d@example.de", i))
		c.AddValue(vcard.FieldEmail, fmt.Sprintf("hans.%d@example.org", i))
		c.SetValue(vcard.FieldBirthday, "19750307")
		c.SetValue(vcard.FieldCategories, "Kunden,Berlin")
		c.SetValue(vcard.FieldNote, "Kunde seit 2019.\nTrifft sich gern im \"Café am Eck\".")
		cards[i] = c
	}
	var out bytes.Buffer
	if err := WriteCSV(&out, cards, Outlook); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// BenchmarkParseCSV20k parses an Outlook export of 20,000 contacts.
func BenchmarkParseCSV20k(b *testing.B) {
	data := outlookFile(b, 20000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		entries, err := ParseCSV(data)
		if err != nil || len(entries) != 20000 {
			b.Fatal(err, len(entries))
		}
	}
}

// BenchmarkWriteCSV20k writes an Outlook export of 20,000 contacts.
func BenchmarkWriteCSV20k(b *testing.B) {
	entries, err := ParseCSV(outlookFile(b, 20000))
	if err != nil {
		b.Fatal(err)
	}
	cards := contacts(entries)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteCSV(&bytes.Buffer{}, cards, Outlook); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseVCard20k parses 20,000 Apple cards with photos.
func BenchmarkParseVCard20k(b *testing.B) {
	one := fixture(b, "apple.vcf")
	data := bytes.Repeat(one, 20000/3)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseVCard(data); err != nil {
			b.Fatal(err)
		}
	}
}
