package directory

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"regexp"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// Fuzz targets for the LDAP attribute mapping: DNs, dates and photos come
// from whoever may write to the directory.

// FuzzNormDN checks normDN's fast path against the DN parser: a DN that
// skips parsing must read the same as its parsed form.
func FuzzNormDN(f *testing.F) {
	for _, s := range []string{"uid=a,ou=people,dc=example,dc=com", "CN=Smith\\, Jr.,OU=Staff,DC=ex", "cn=a+sn=b,dc=x", " cn = a , dc = x ", "cn=#04024869", "cn=é,dc=x", "=", ",", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		want := strings.ToLower(strings.TrimSpace(dn))
		if parsed, err := ldap.ParseDN(dn); err == nil && parsed != nil {
			want = strings.ToLower(parsed.String())
		}
		if got := normDN(dn); got != want {
			t.Fatalf("%q: normDN %q (fast path %v), parser %q", dn, got, simpleDN(dn), want)
		}
	})
}

var birthdayForms = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}|\d{8}|--\d{2}-?\d{2})$`)

// FuzzBirthday checks that whatever a directory holds as a date is
// published as YYYY-MM-DD or --MM-DD, or dropped.
func FuzzBirthday(f *testing.F) {
	for _, s := range []string{"19800304", "19800304000000Z", "1980-03-04", "--0304", "--03-04", "2024", "", "99999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p := Person{ID: "x", DisplayName: "X", Birthday: ldapDate(raw)}
		cleanPerson(&p, func(string, ...any) {})
		if b := p.Birthday; b != "" && !birthdayForms.MatchString(b) {
			t.Fatalf("%q published as birthday %q", raw, b)
		}
	})
}

// FuzzProcessPhoto feeds arbitrary bytes as a directory photo: it is
// refused, or becomes a JPEG within the size and pixel bounds.
func FuzzProcessPhoto(f *testing.F) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	jpeg.Encode(&b, img, nil)
	f.Add(b.Bytes())
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x02})
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := ProcessPhoto(raw)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(out, []byte{0xFF, 0xD8, 0xFF}) || len(out) > MaxPhotoBytes {
			t.Fatalf("photo of %d bytes became %d bytes starting % x", len(raw), len(out), out[:min(4, len(out))])
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
		if err != nil || cfg.Width > PhotoMaxPixels || cfg.Height > PhotoMaxPixels {
			t.Fatalf("published photo: %v, %dx%d", err, cfg.Width, cfg.Height)
		}
	})
}

// FuzzMapPerson maps entries with arbitrary values: mapping and
// normalising never fail on what a directory holds.
func FuzzMapPerson(f *testing.F) {
	f.Add("Zoë", "Neumann", "Zoë Neumann", "zoe@example.org", "+49 30 1234", "uid=boss,dc=ex", "19800304")
	f.Add("", "", "", "not an email", "abc", "not a dn", "--1399")
	f.Fuzz(func(t *testing.T, given, family, cn, mail, phone, manager, birthday string) {
		cfg := &LDAPConfig{Kind: KindLDAP, IDAttribute: "entryUUID", LoginAttributes: DefaultLoginAttributes(KindLDAP), Mapping: DefaultMapping(KindLDAP)}
		cfg.Mapping["birthday"] = "birthDate"
		e := entry("uid=x,dc=ex", "entryUUID", "0f1d6c5e-8a49-5b6a-9c1e-6f7267646176", "givenName", given, "sn", family, "cn", cn,
			"mail", mail, "telephoneNumber", phone, "manager", manager, "birthDate", birthday)
		p, skip, _ := cfg.mapPerson(e, func(v string) string { return v })
		if skip != "" {
			return
		}
		if _, err := Normalize(Snapshot{Source: "corp", People: []Person{p.Person}}); err != nil {
			t.Fatal(err)
		}
	})
}
