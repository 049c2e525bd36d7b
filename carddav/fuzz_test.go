package carddav

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fuzz targets for every parser that takes a client's input. `go test`
// runs their seeds; scripts/fuzz runs each for a while.

// seedRequests adds the real clients' request bodies as seeds.
func seedRequests(f *testing.F) {
	files, _ := filepath.Glob("testdata/requests/*.xml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

// FuzzDAVRequestBodies sends arbitrary bodies as PROPFIND, REPORT and
// PROPPATCH to a running server: every answer is either a refusal (4xx)
// or a well-formed multistatus, also after what a PROPPATCH stored, and
// no card changes.
func FuzzDAVRequestBodies(f *testing.F) {
	seedRequests(f)
	f.Add(`<propfind xmlns="DAV:"><prop><displayname>a<!---->b<?x?></displayname></prop></propfind>`)
	f.Add(`<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data/></D:prop><C:filter test="allof"><C:prop-filter name="FN"><C:text-match negate-condition="yes">&amp;</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`)
	f.Add(`<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>`)
	f.Add(`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x&amp;y</D:displayname><X:c xmlns:X="urn:x" a="1">t<X:d/></X:c></D:prop></D:set><D:remove><D:prop><D:getetag/></D:prop></D:remove></D:propertyupdate>`)
	e := newEnv(f, 40)
	f.Fuzz(func(t *testing.T, body string) {
		rev := e.st.Index().Rev
		for _, r := range []struct{ method, path, depth, body string }{
			{"PROPFIND", bookPath("alice", bookCompany), "1", body},
			{"PROPFIND", homePath("alice"), "1", body},
			{"REPORT", bookPath("alice", bookCompany), "0", body},
			{"REPORT", bookPath("alice", bookPersonal), "1", body},
			// What PROPPATCH stores is served by the allprop after it.
			{"PROPPATCH", bookPath("alice", bookPersonal), "0", body},
			{"PROPPATCH", homePath("alice"), "0", body},
			{"PROPFIND", homePath("alice"), "1", ""},
		} {
			req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
			req.SetBasicAuth("alice", "demo")
			req.Header.Set("Depth", r.depth)
			w := httptest.NewRecorder()
			e.srv.Config.Handler.ServeHTTP(w, req)
			switch {
			case w.Code >= 500:
				t.Fatalf("%s %s: %d %s", r.method, r.path, w.Code, w.Body)
			case w.Code == http.StatusMultiStatus:
				wellFormed(t, r.method+" "+r.path, w.Body.String())
			}
		}
		if e.st.Index().Rev != rev {
			t.Fatal("a request changed the directory's cards")
		}
	})
}

// FuzzCardUpload checks the PUT validation and the 3.0/4.0 conversion: a
// card is refused, or stored and then served, in either version, as text
// XML can carry, with its UID and FN unchanged.
func FuzzCardUpload(f *testing.F) {
	f.Add("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:Zoë\r\nitem1.EMAIL;TYPE=INTERNET,pref:a@b\r\nitem1.X-ABLabel:work\r\nPHOTO;ENCODING=b;TYPE=JPEG:AAAA\r\nBDAY;X-APPLE-OMIT-YEAR=1604:1604-03-04\r\nEND:VCARD\r\n")
	f.Add("BEGIN:VCARD\nVERSION:4.0\nUID:urn:uuid:1\nFN:G\nKIND:group\nMEMBER:urn:uuid:2\nPHOTO:data:image/png;base64,AAAA\nTEL;VALUE=uri;PREF=1:tel:+1\nBDAY:--0304\nEND:VCARD\n")
	f.Add("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\r\nNOTE:a\r\n b\r\n\tc\r\nEMAIL;TYPE=\"unterminated:x@y\r\nEND:VCARD\r\n")
	f.Add("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:a\x00\xe9\uFFFE\r\nEND:VCARD\r\n")
	f.Fuzz(func(t *testing.T, card string) {
		pc, err := checkCard([]byte(card))
		if err != nil {
			return
		}
		for _, v4 := range []bool{false, true} {
			out := convertCard([]byte(card), v4)
			if err := checkText(out); err != nil {
				t.Fatalf("accepted %q, served v4=%v as %q: %v", card, v4, out, err)
			}
			back, err := checkCard(out)
			if err != nil {
				t.Fatalf("accepted %q, but its v4=%v form %q is refused: %v", card, v4, out, err)
			}
			if back.uid != pc.uid {
				t.Fatalf("UID %q became %q in v4=%v", pc.uid, back.uid, v4)
			}
		}
	})
}

// FuzzSyncToken sends arbitrary sync tokens, as clients paste them into
// the XML: the answer is a well-formed delta, or 403 valid-sync-token
// (400 for Thunderbird), never an error of the server, and a token the
// server issued still works.
func FuzzSyncToken(f *testing.F) {
	f.Add(formatToken("0123456789ab", bookCompany, 42, "deadbeef"))
	f.Add("urn:x-orgdav:sync/x/y/1/z")
	f.Add("b905a5fd-ce23-4190-9be3-236969d071a8")
	f.Add("urn:x-orgdav:sync////")
	f.Add("urn:x-orgdav:sync/e/personal/1/<x>")
	e := newEnv(f, 40)
	f.Fuzz(func(t *testing.T, tok string) {
		var esc strings.Builder
		xml.EscapeText(&esc, []byte(tok))
		for _, b := range []string{bookCompany, bookPersonal} {
			req := httptest.NewRequest("REPORT", bookPath("alice", b), strings.NewReader(syncBody(esc.String(), false)))
			req.SetBasicAuth("alice", "demo")
			w := httptest.NewRecorder()
			e.srv.Config.Handler.ServeHTTP(w, req)
			switch {
			case w.Code == http.StatusMultiStatus:
				wellFormed(t, "sync-collection", w.Body.String())
				if tok != "" && !strings.Contains(w.Body.String(), "<D:sync-token>urn:x-orgdav:sync/") {
					t.Fatalf("token %q: a delta without a token of the server's", tok)
				}
			case w.Code == http.StatusForbidden || w.Code == http.StatusBadRequest:
				wellFormed(t, "refusal", w.Body.String())
			default:
				t.Fatalf("token %q on %s: %d %s", tok, b, w.Code, w.Body)
			}
		}
	})
}

// FuzzCardPUT sends arbitrary bodies as a PUT of a personal card: a
// refused write changes nothing, an accepted one is served back as text
// XML can carry, and the book's answers stay well-formed.
func FuzzCardPUT(f *testing.F) {
	f.Add("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\r\nEND:VCARD\r\n", "text/vcard")
	f.Add("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\x00\r\nEND:VCARD\r\n", "text/vcard")
	f.Add("BEGIN:VCARD\nVERSION:4.0\nUID:b\nFN:B\nEMAIL;TYPE=\"x:y@z\nEND:VCARD\n", "text/x-vcard")
	e := newEnv(f, 40)
	book := bookPath("alice", bookPersonal)
	f.Fuzz(func(t *testing.T, card, ctype string) {
		before, _ := e.st.PersonalInfo("alice")
		req := httptest.NewRequest("PUT", book+"fuzz.vcf", strings.NewReader(card))
		req.SetBasicAuth("alice", "demo")
		req.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		e.srv.Config.Handler.ServeHTTP(w, req)
		after, _ := e.st.PersonalInfo("alice")
		switch {
		case w.Code >= 500:
			t.Fatalf("PUT: %d %s", w.Code, w.Body)
		case w.Code >= 400 && after.Rev != before.Rev:
			t.Fatalf("a refused PUT (%d) changed the book", w.Code)
		case w.Code < 300:
			get := httptest.NewRequest("GET", book+"fuzz.vcf", nil)
			get.SetBasicAuth("alice", "demo")
			get.Header.Set("Accept", "text/vcard; version=4.0")
			gw := httptest.NewRecorder()
			e.srv.Config.Handler.ServeHTTP(gw, get)
			if err := checkText(gw.Body.Bytes()); gw.Code != http.StatusOK || err != nil {
				t.Fatalf("an accepted card is served %d: %v", gw.Code, err)
			}
			sync := httptest.NewRequest("REPORT", book, strings.NewReader(syncBody("", true)))
			sync.SetBasicAuth("alice", "demo")
			sw := httptest.NewRecorder()
			e.srv.Config.Handler.ServeHTTP(sw, sync)
			wellFormed(t, "sync-collection after an accepted card", sw.Body.String())
		}
	})
}
