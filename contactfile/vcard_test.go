package contactfile

import (
	"bytes"
	"encoding/base64"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
)

// photoBytes decodes a data: URI PHOTO.
func photoBytes(t *testing.T, c vcard.Card) []byte {
	t.Helper()
	v := c.Value(vcard.FieldPhoto)
	b64, ok := strings.CutPrefix(v, "data:image/jpeg;base64,")
	if !ok {
		t.Fatalf("PHOTO %.40q is not a JPEG data: URI", v)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isJPEG reports whether b decodes as the fixtures' 8×8 JPEG.
func isJPEG(t *testing.T, b []byte) {
	t.Helper()
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width != 8 || cfg.Height != 8 {
		t.Errorf("photo does not decode as the 8×8 JPEG: %v %+v", err, cfg)
	}
}

func TestAppleVCard30(t *testing.T) {
	entries, _ := mustParse(t, fixture(t, "apple.vcf"))
	hans, zoe, group := entries[0].Card, entries[1].Card, entries[2]
	t.Run("an inline base64 photo becomes a data: URI of the same bytes", func(t *testing.T) {
		isJPEG(t, photoBytes(t, hans))
		if p := field(t, hans, vcard.FieldPhoto); p.Params != nil {
			t.Errorf("PHOTO params %v", p.Params)
		}
	})
	t.Run("groups and labels are kept", func(t *testing.T) {
		labels := groupLabels(hans)
		var central *vcard.Field
		for _, f := range hans[vcard.FieldTelephone] {
			if f.Group == "item1" {
				central = f
			}
		}
		if central == nil || central.Value != "+49 30 7654321" || labels["item1"] != "Zentrale" {
			t.Errorf("item1.TEL %v, label %q", central, labels["item1"])
		}
		if hans.Value("X-ABADR") != "de" || hans.Get("X-ABADR").Group != "item2" {
			t.Errorf("X-ABADR %s", dump(hans))
		}
	})
	t.Run("TYPE=pref becomes PREF=1, INTERNET goes, types are lower case", func(t *testing.T) {
		e := hans[vcard.FieldEmail][0]
		if e.Params.Get(vcard.ParamPreferred) != "1" || e.Params.HasType("pref") || e.Params.HasType("internet") || !e.Params.HasType("work") {
			t.Errorf("EMAIL params %v", e.Params)
		}
		if got := hans[vcard.FieldTelephone][0].Params[vcard.ParamType]; strings.Join(got, ",") != "cell,voice" {
			t.Errorf("TEL types %q", got)
		}
	})
	t.Run("escapes are undone, structure is kept", func(t *testing.T) {
		if got := hans.Value(vcard.FieldNote); got != "Kunde seit 2019.\nBevorzugt Anrufe am Vormittag, nicht nach 17 Uhr." {
			t.Errorf("NOTE %q", got)
		}
		if got := hans.Value(vcard.FieldURL); got != "https://www.example.de/" {
			t.Errorf("URL %q", got)
		}
		if got := hans.Address(); got.StreetAddress != "Hauptstraße 1\nHinterhaus" || got.PostalCode != "10115" {
			t.Errorf("ADR %+v", got)
		}
		if got := hans.Categories(); strings.Join(got, "|") != "Kunden|Berlin" {
			t.Errorf("CATEGORIES %q", got)
		}
	})
	t.Run("dates in 4.0 form, Apple's year-less birthday without a year", func(t *testing.T) {
		if hans.Value(vcard.FieldBirthday) != "19750307" || zoe.Value(vcard.FieldBirthday) != "--0307" {
			t.Errorf("BDAY %q, %q", hans.Value(vcard.FieldBirthday), zoe.Value(vcard.FieldBirthday))
		}
		if zoe.Get(vcard.FieldBirthday).Params != nil {
			t.Errorf("BDAY params %v", zoe.Get(vcard.FieldBirthday).Params)
		}
	})
	t.Run("the UID is kept, other properties too", func(t *testing.T) {
		if hans.Value(vcard.FieldUID) != "5F3C2E1A-9B7D-4C1E-8F2A-1D2C3B4A5E6F" || zoe.Value("X-SOCIALPROFILE") != "https://twitter.com/zoe" {
			t.Errorf("%s", dump(zoe))
		}
	})
	t.Run("a group card is skipped", func(t *testing.T) {
		if group.Skip != skipGroup || group.Card != nil {
			t.Errorf("%+v", group)
		}
	})
}

func TestAndroidVCard21(t *testing.T) {
	entries, _ := mustParse(t, fixture(t, "android.vcf"))
	hans, taro, zoe := entries[0].Card, entries[1].Card, entries[2].Card
	t.Run("quoted-printable UTF-8 across soft line breaks", func(t *testing.T) {
		if hans.Value(vcard.FieldFormattedName) != "Hans Müller" || zoe.Value(vcard.FieldFormattedName) != "Zoë Çelik" {
			t.Errorf("FN %q, %q", hans.Value(vcard.FieldFormattedName), zoe.Value(vcard.FieldFormattedName))
		}
		if got := hans.Address(); got.Country != "Deutschland" || got.StreetAddress != "Hauptstraße 1" {
			t.Errorf("ADR %+v", got)
		}
		if got := taro.Address(); got.Locality != "東京" || got.Country != "日本" {
			t.Errorf("ADR %+v", got)
		}
		want := "Trifft sich gern im Café am Eck. Spricht Deutsch, Englisch und ein wenig Japanisch (日本語). Müller mag Zoë’s Kaffee.\nZweite Zeile."
		if got := hans.Value(vcard.FieldNote); got != want {
			t.Errorf("NOTE %q", got)
		}
	})
	t.Run("bare parameters are types, PREF is PREF=1", func(t *testing.T) {
		tel := hans[vcard.FieldTelephone][0]
		if strings.Join(tel.Params.Types(), ",") != "cell" || tel.Params.Get(vcard.ParamPreferred) != "1" {
			t.Errorf("TEL params %v", tel.Params)
		}
		if !zoe.Get(vcard.FieldEmail).Params.HasType("x-arbeit") {
			t.Errorf("EMAIL params %v", zoe.Get(vcard.FieldEmail).Params)
		}
	})
	t.Run("a base64 photo on indented lines ended by an empty line", func(t *testing.T) {
		isJPEG(t, photoBytes(t, hans))
		apple, _ := mustParse(t, fixture(t, "apple.vcf"))
		if !bytes.Equal(photoBytes(t, hans), photoBytes(t, apple[0].Card)) {
			t.Error("the same photo reads differently from Android and Apple")
		}
	})
	t.Run("Android's own properties are kept, decoded", func(t *testing.T) {
		if got := zoe.Value("X-ANDROID-CUSTOM"); !strings.HasPrefix(got, "vnd.android.cursor.item/nickname;Zoë;") {
			t.Errorf("X-ANDROID-CUSTOM %q", got)
		}
	})
}

func TestVCard21Charsets(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"ISO-8859-1 quoted-printable", "NOTE;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:M=FCller", "Müller"},
		{"Shift_JIS quoted-printable", "NOTE;CHARSET=SHIFT_JIS;ENCODING=QUOTED-PRINTABLE:=93=8C=8B=9E", "東京"},
		{"mislabelled UTF-8 falls back to Windows-1252", "NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Caf=E9", "Café"},
		{"raw Windows-1252 bytes without a label", "NOTE:Caf\xe9 \x80", "Café €"},
		{"raw bytes in the labelled charset", "NOTE;CHARSET=ISO-8859-15:\xa4", "€"},
		{"bare QUOTED-PRINTABLE", "NOTE;QUOTED-PRINTABLE:a=3Db", "a=b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:x\r\n" + tc.line + "\r\nEND:VCARD\r\n"
			entries, err := ParseVCard([]byte(data))
			if err != nil {
				t.Fatal(err)
			}
			if got := entries[0].Card.Value(vcard.FieldNote); got != tc.want {
				t.Errorf("NOTE %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVCardFilesJoinedWithTheirByteOrderMarks(t *testing.T) {
	one := append(append([]byte(nil), bomUTF8...), fixture(t, "thunderbird4.vcf")...)
	entries, format := mustParse(t, append(one, one...))
	if format != FormatVCard || len(entries) != 4 || entries[2].Line != 22 {
		t.Errorf("format %q, %d entries, third on line %d", format, len(entries), entries[2].Line)
	}
}

func TestThunderbirdVCard40(t *testing.T) {
	entries, _ := mustParse(t, fixture(t, "thunderbird4.vcf"))
	jane, orders := entries[0].Card, entries[1].Card
	if jane.Value(vcard.FieldNote) != "Met at the conference, 2023.\nFollow up about the café order." {
		t.Errorf("NOTE %q", jane.Value(vcard.FieldNote))
	}
	if jane.PreferredValue(vcard.FieldEmail) != "jane@example.com" || jane.Value(vcard.FieldBirthday) != "19800307" {
		t.Errorf("%s", dump(jane))
	}
	if orders.Value(vcard.FieldFormattedName) != "orders@example.net" {
		t.Errorf("a card without a name is not named by its e-mail: %s", dump(orders))
	}
}

func TestCardsWithoutANameGetOneOrAreSkipped(t *testing.T) {
	for _, tc := range []struct{ name, body, fn, skip string }{
		{"FN kept", "FN:Ann\r\nN:B;C;;;", "Ann", ""},
		{"from N", "N:Doe;Jane;Q;;", "Jane Q Doe", ""},
		{"an empty FN is no FN", "FN:\r\nN:Doe;Jane;;;", "Jane Doe", ""},
		{"from ORG", "ORG:;Sales", "Sales", ""},
		{"from EMAIL", "EMAIL:a@b.example", "a@b.example", ""},
		{"from TEL", "TEL;VALUE=uri:tel:+1-555", "+1-555", ""},
		{"nothing to name it by", "NOTE:hello", "", skipNothing},
		{"a 4.0 group", "KIND:group\r\nFN:Team", "", skipGroup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := ParseVCard([]byte("BEGIN:VCARD\r\nVERSION:4.0\r\n" + tc.body + "\r\nEND:VCARD\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			e := entries[0]
			if e.Skip != tc.skip || tc.skip == "" && e.Card.Value(vcard.FieldFormattedName) != tc.fn {
				t.Errorf("skip %q, card %s", e.Skip, dump(e.Card))
			}
		})
	}
}

func TestEncodeWritesWhatClientsRead(t *testing.T) {
	entries, _ := mustParse(t, fixture(t, "apple.vcf"))
	hans := entries[0].Card
	for _, version := range []string{"3.0", "4.0"} {
		t.Run(version+": deterministic, CRLF, folded at 75 octets, VERSION first, sorted", func(t *testing.T) {
			a, err := Encode(hans, version)
			if err != nil {
				t.Fatal(err)
			}
			for range 5 {
				if b, _ := Encode(hans, version); !bytes.Equal(a, b) {
					t.Fatal("two encodings of one card differ")
				}
			}
			lines := strings.Split(strings.TrimSuffix(string(a), "\r\n"), "\r\n")
			if lines[0] != "BEGIN:VCARD" || lines[1] != "VERSION:"+version || lines[len(lines)-1] != "END:VCARD" {
				t.Errorf("starts %q %q, ends %q", lines[0], lines[1], lines[len(lines)-1])
			}
			var names []string
			for _, l := range lines {
				if len(l) > 75 || strings.Contains(l, "\n") || strings.Contains(l, "\r") {
					t.Errorf("line of %d octets or a bare line end: %q", len(l), l)
				}
				if l[0] != ' ' && l != "BEGIN:VCARD" && l != "END:VCARD" && !strings.HasPrefix(l, "VERSION:") {
					name := strings.ToUpper(l[:strings.IndexAny(l, ";:")])
					names = append(names, name[strings.IndexByte(name, '.')+1:])
				}
			}
			for i := 1; i < len(names); i++ {
				if names[i-1] > names[i] {
					t.Errorf("%s before %s", names[i-1], names[i])
				}
			}
		})
	}
	t.Run("3.0 as Apple writes it", func(t *testing.T) {
		b, _ := Encode(hans, "3.0")
		for _, want := range []string{"PHOTO;ENCODING=b;TYPE=JPEG:/9j/", "EMAIL;TYPE=internet,work,pref:", "item1.X-ABLabel:Zentrale", "BDAY;VALUE=date:1975-03-07"} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("no %q in\n%s", want, b)
			}
		}
		zoe, _ := Encode(entries[1].Card, "3.0")
		if !bytes.Contains(zoe, []byte("BDAY;X-APPLE-OMIT-YEAR=1604:1604-03-07")) {
			t.Errorf("year-less birthday in\n%s", zoe)
		}
	})
	t.Run("4.0 photo as a data: URI", func(t *testing.T) {
		b, _ := Encode(hans, "4.0")
		if !bytes.Contains(b, []byte("PHOTO:data:image/jpeg;base64,/9j/")) {
			t.Errorf("%s", b)
		}
	})
	t.Run("a 4.0 group card in 3.0 is Apple's group", func(t *testing.T) {
		group := vcard.Card{}
		group.SetValue(vcard.FieldFormattedName, "Team")
		group.SetValue(vcard.FieldKind, "group")
		group.AddValue(vcard.FieldMember, "urn:uuid:1")
		b, err := Encode(group, "3.0")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("\r\nX-ADDRESSBOOKSERVER-KIND:group\r\n")) || !bytes.Contains(b, []byte("\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:1\r\n")) {
			t.Errorf("%s", b)
		}
	})
	t.Run("parameter values that need quotes and carets", func(t *testing.T) {
		c := vcard.Card{}
		c.Add(vcard.FieldAddress, &vcard.Field{Value: ";;a;b;;;", Params: vcard.Params{"LABEL": {"a \"b\"\nc; d^e"}}})
		c.SetValue(vcard.FieldFormattedName, "x")
		b, err := Encode(c, "4.0")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`ADR;LABEL="a ^'b^'^nc; d^^e":;;a;b;;;`)) {
			t.Errorf("%s", b)
		}
		back, _ := mustParse(t, b)
		if got := back[0].Card.Get(vcard.FieldAddress).Params.Get("LABEL"); got != "a \"b\"\nc; d^e" {
			t.Errorf("LABEL read back as %q", got)
		}
	})
	t.Run("what cannot be written is an error", func(t *testing.T) {
		for _, c := range []struct {
			card    vcard.Card
			version string
		}{
			{vcard.Card{"FN": {{Value: "x"}}}, "2.1"},
			{vcard.Card{"BAD NAME": {{Value: "x"}}}, "4.0"},
			{vcard.Card{"END": {{Value: "VCARD"}}}, "4.0"},
			{vcard.Card{"FN": {{Value: "x", Group: "a.b"}}}, "4.0"},
			{vcard.Card{"FN": {{Value: "x", Params: vcard.Params{"A:B": {"c"}}}}}, "4.0"},
		} {
			if _, err := Encode(c.card, c.version); err == nil {
				t.Errorf("Encode(%s, %s) did not fail", dump(c.card), c.version)
			}
		}
	})
}
