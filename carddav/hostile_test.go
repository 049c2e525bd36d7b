package carddav

import (
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/store"
)

// wellFormed fails unless body is well-formed, namespace-well-formed XML
// (what every client's parser needs before it reads anything). encoding/xml
// lets through what expat and libxml2 refuse: an attribute twice, a name
// that is no qualified name, a prefix bound to xml's namespace; those are
// checked here.
func wellFormed(t *testing.T, what, body string) {
	t.Helper()
	fail := func(err any) {
		t.Helper()
		t.Fatalf("%s is not well-formed XML: %v\n%.400s", what, err, body)
	}
	raw := xml.NewDecoder(strings.NewReader(body))
	raw.Strict = true
	for {
		tok, err := raw.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		seen := map[xml.Name]bool{}
		for _, a := range append([]xml.Attr{{Name: start.Name}}, start.Attr...) {
			if a.Name.Local == "" || strings.Contains(a.Name.Local, ":") || a.Name.Space == "" && strings.HasPrefix(a.Name.Local, "xmlns") && a.Name.Local != "xmlns" {
				fail("the name " + a.Name.Space + ":" + a.Name.Local)
			}
			if a.Name.Space == "xmlns" && a.Value == "http://www.w3.org/XML/1998/namespace" {
				fail("a prefix bound to xml's namespace")
			}
			if a.Name != start.Name && seen[a.Name] {
				fail("the attribute " + a.Name.Local + " twice")
			}
			seen[a.Name] = true
		}
	}
	d := xml.NewDecoder(strings.NewReader(body))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			fail(err)
		}
	}
}

// personalResponses gets everything a client may ask of alice's personal
// book and checks that each answer is well-formed.
func personalResponses(t *testing.T, e *env, cards []string) {
	t.Helper()
	book := bookPath("alice", bookPersonal)
	hrefs := ""
	for _, c := range cards {
		hrefs += "<D:href>" + book + c + "</D:href>"
	}
	for _, r := range []struct{ name, method, body string }{
		{"sync-collection with address-data", "REPORT", syncBody("", true)},
		{"multiget 3.0", "REPORT", `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>` + hrefs + `</C:addressbook-multiget>`},
		{"multiget 4.0", "REPORT", `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data version="4.0"/></D:prop>` + hrefs + `</C:addressbook-multiget>`},
		{"query", "REPORT", `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data/></D:prop><C:filter><C:prop-filter name="NOTE"><C:text-match>a</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`},
		{"PROPFIND depth 1", "PROPFIND", ""},
	} {
		resp := e.do(r.method, book, "alice", r.body, "Depth", "1")
		if resp.code != http.StatusMultiStatus {
			t.Fatalf("%s: %d %s", r.name, resp.code, resp.body)
		}
		wellFormed(t, r.name, resp.body)
	}
}

func TestCardsThatWouldBreakTheBookAreRefusedAndStoredOnesRepaired(t *testing.T) {
	e := newEnv(t, 60)
	book := bookPath("alice", bookPersonal)
	good := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:good\r\nFN:Good\r\nNOTE:a fine note\r\nEND:VCARD\r\n"
	if r := e.do("PUT", book+"good.vcf", "alice", good); r.code != http.StatusCreated {
		t.Fatalf("a good card: %d %s", r.code, r.body)
	}
	before := e.st.Index().Rev
	info, _ := e.st.PersonalInfo("alice")
	for _, bad := range []struct{ name, note, line string }{
		{"NUL", "a\x00b", "line 5"},
		{"escape", "a\x1b[31mb", "line 5"},
		{"invalid UTF-8", "caf\xe9", "line 5"},
		{"U+FFFE", "a\uFFFEb", "line 5"},
		{"U+FFFF", "a\uFFFFb", "line 5"},
		{"unterminated quoted parameter", "x\r\nEMAIL;TYPE=\"unterminated:x@y", "line 6"},
	} {
		card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bad\r\nFN:Bad\r\nNOTE:" + bad.note + "\r\nEND:VCARD\r\n"
		r := e.do("PUT", book+"bad.vcf", "alice", card)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, "<C:valid-address-data/>") || !strings.Contains(r.body, bad.line) {
			t.Errorf("%s: %d %s", bad.name, r.code, r.body)
		}
		wellFormed(t, bad.name+" refusal", r.body)
	}
	if after, _ := e.st.PersonalInfo("alice"); after.Rev != info.Rev || after.Count != 1 || e.st.Index().Rev != before {
		t.Fatalf("refused cards changed the store: %+v -> %+v", info, after)
	}
	personalResponses(t, e, []string{"good.vcf"})

	// A card stored before these checks existed (straight into the store).
	if _, _, err := e.st.PersonalPut("alice", "old.vcf", "old", []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:old\r\nFN:Old\x00\r\nNOTE:a\x1bb caf\xe9\uFFFE\r\nEND:VCARD\r\n"), store.Conditions{}); err != nil {
		t.Fatal(err)
	}
	personalResponses(t, e, []string{"good.vcf", "old.vcf"})
	if r := e.do("GET", book+"old.vcf", "alice", ""); r.code != http.StatusOK || strings.ContainsAny(r.body, "\x00\x1b\uFFFE") || !strings.Contains(r.body, "caf\uFFFD") {
		t.Fatalf("GET of a stored bad card: %d %q", r.code, r.body)
	}
}

func TestNoPathPropertyOrDirectoryValueMakesAResponseIllFormed(t *testing.T) {
	e := newEnv(t, 60)
	// What a directory holds comes from whoever may edit their own entry.
	e.person("bob").Title = "Boss\uFFFE\x01 caf\xe9"
	e.apply()
	if r := e.do("REPORT", bookPath("alice", bookCompany), "alice", syncBody("", true)); r.code != http.StatusMultiStatus {
		t.Fatalf("sync: %d", r.code)
	} else {
		wellFormed(t, "a book holding a title XML cannot carry", r.body)
	}
	for i, name := range []string{"%01x", "a%0Cb", "%FF"} {
		card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:odd" + strconv.Itoa(i) + "\r\nFN:Odd\r\nEND:VCARD\r\n"
		if r := e.do("PUT", bookPath("alice", bookPersonal)+name, "alice", card); r.code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", name, r.code, r.body)
		}
	}
	if r := e.do("REPORT", bookPath("alice", bookPersonal), "alice", syncBody("", true)); r.code != http.StatusMultiStatus {
		t.Fatalf("sync of cards with odd names: %d", r.code)
	} else {
		wellFormed(t, "sync of cards with odd names", r.body)
	}
	for _, path := range []string{bookPath("alice", bookPersonal) + "%01x", bookPath("alice", bookPersonal) + "%FF", bookPath("alice", bookPersonal) + "a%0Cb"} {
		r := e.do("PROPPATCH", path, "alice", `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname></D:prop></D:set></D:propertyupdate>`)
		if r.code != http.StatusMultiStatus {
			t.Fatalf("PROPPATCH %s: %d", path, r.code)
		}
		wellFormed(t, "PROPPATCH "+path, r.body)
	}
	r := e.do("PROPFIND", bookPath("alice", bookCompany), "alice", `<D:propfind xmlns:D="DAV:"><D:prop><xml:lang/><D:getetag/></D:prop></D:propfind>`, "Depth", "0")
	if r.code != http.StatusMultiStatus || !strings.Contains(r.body, "<xml:lang/>") || strings.Contains(r.body, "xmlns:X=\"http://www.w3.org/XML/1998/namespace\"") {
		t.Errorf("xml:lang asked for: %d %s", r.code, r.body)
	}
	many := strings.Repeat("<D:x/>", maxProps+1)
	if r := e.do("PROPFIND", bookPath("alice", bookCompany), "alice", `<D:propfind xmlns:D="DAV:"><D:prop>`+many+`</D:prop></D:propfind>`, "Depth", "1"); r.code != http.StatusBadRequest {
		t.Errorf("a PROPFIND of %d properties: %d, want 400", maxProps+1, r.code)
	}
}
