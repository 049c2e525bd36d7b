package carddav

import (
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Tests from an independent CardDAV conformance suite's findings: each
// departure from RFC 4918, 6352 and 6578 a client can hit.

const (
	multigetOpen = `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">`
	syncOpen     = `<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>`
)

func TestEveryMemberOfAResponseHasAPropstatOrAStatus(t *testing.T) {
	e := newEnv(t, 60)
	company := bookPath("alice", bookCompany)
	all, _, _ := e.sync("alice", "")
	hrefs := ""
	n := 0
	for h := range all {
		if n++; n <= 5 {
			hrefs += "<D:href>" + h + "</D:href>"
		}
	}
	cases := []struct {
		name, body string
		check      func(r response) bool
	}{
		{"sync-collection asking for no properties", syncOpen + `<D:prop/></D:sync-collection>`,
			func(r response) bool { return len(r.Propstats) == 1 && r.Propstats[0].Status == status200 }},
		{"multiget with allprop", multigetOpen + `<D:allprop/>` + hrefs + `</C:addressbook-multiget>`,
			func(r response) bool {
				return len(r.Propstats) == 1 && strings.Contains(r.Raw, `<D:getetag>"`) && !strings.Contains(r.Raw, "address-data")
			}},
		{"multiget with propname", multigetOpen + `<D:propname/>` + hrefs + `</C:addressbook-multiget>`,
			func(r response) bool {
				return len(r.Propstats) == 1 && strings.Contains(r.Raw, "<D:getetag/>") && !strings.Contains(r.Raw, `<D:getetag>"`)
			}},
		{"multiget with an empty prop", multigetOpen + `<D:prop/>` + hrefs + `</C:addressbook-multiget>`,
			func(r response) bool { return len(r.Propstats) == 1 && r.Propstats[0].Status == status200 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("REPORT", company, "alice", c.body)
			if r.code != http.StatusMultiStatus {
				t.Fatalf("%d %s", r.code, r.body)
			}
			ms := parseMS(t, r.body)
			if len(ms.Responses) < 5 {
				t.Fatalf("%d responses", len(ms.Responses))
			}
			for _, resp := range ms.Responses {
				if resp.Status == "" && len(resp.Propstats) == 0 || !c.check(resp) {
					t.Fatalf("response %s:\n%s", resp.Href, resp.Raw)
				}
			}
		})
	}
}

func TestAddressDataOfATypeOrVersionNotServedIsRefused(t *testing.T) {
	e := newEnv(t, 60)
	company := bookPath("alice", bookCompany)
	for _, c := range []struct {
		attrs string
		want  int
	}{
		{`content-type="text/vcards"`, http.StatusForbidden},
		{`version="2.0"`, http.StatusForbidden},
		{`content-type="application/vcard+json" version="4.0"`, http.StatusForbidden},
		{`content-type="text/vcard" version="4.0"`, http.StatusMultiStatus},
		{`Content-Type="text/vcard" version="3.0"`, http.StatusMultiStatus}, // vdirsyncer
		{``, http.StatusMultiStatus},
	} {
		for _, body := range []string{
			syncOpen + `<D:prop><D:getetag/><C:address-data xmlns:C="urn:ietf:params:xml:ns:carddav" ` + c.attrs + `/></D:prop></D:sync-collection>`,
			`<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data ` + c.attrs + `/></D:prop></C:addressbook-query>`,
		} {
			r := e.do("REPORT", company, "alice", body)
			if r.code != c.want || c.want == http.StatusForbidden && !strings.Contains(r.body, "<C:supported-address-data/>") {
				t.Errorf("address-data %s: %d %.200s", c.attrs, r.code, r.body)
			}
		}
	}
}

func TestAPutKeepsTheCardsUID(t *testing.T) {
	e := newEnv(t, 60)
	p := bookPath("alice", bookPersonal) + "kim.vcf"
	card := func(uid string) string {
		return "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nFN:Kim\r\nEND:VCARD\r\n"
	}
	if r := e.do("PUT", p, "alice", card("kim-1")); r.code != http.StatusCreated {
		t.Fatalf("create: %d", r.code)
	}
	r := e.do("PUT", p, "alice", card("kim-2"))
	if r.code != http.StatusConflict || !strings.Contains(r.body, "<C:no-uid-conflict><D:href>"+p+"</D:href>") {
		t.Fatalf("a PUT changing the UID: %d %s", r.code, r.body)
	}
	if got := e.do("GET", p, "alice", ""); !strings.Contains(got.body, "UID:kim-1") {
		t.Fatalf("the card after a refused UID change:\n%s", got.body)
	}
}

func TestPutTakesTheMediaTypesClientsSendAndConvertsACharset(t *testing.T) {
	e := newEnv(t, 60)
	book := bookPath("alice", bookPersonal)
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nFN:Zo\xeb M\xfcller\r\nEND:VCARD\r\n" // Latin-1 where it says so
	utf8Card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nFN:Zoë Müller\r\nEND:VCARD\r\n"
	cases := []struct {
		name, ctype, card string
		want              int
	}{
		{"text/vcard", "text/vcard", utf8Card, http.StatusCreated},
		{"with parameters and capitals", `Text/VCard; charset="UTF-8"; version=4.0`, utf8Card, http.StatusCreated},
		{"the legacy text/x-vcard", "text/x-vcard", utf8Card, http.StatusCreated},
		{"no Content-Type", "", utf8Card, http.StatusCreated},
		{"Latin-1, declared", "text/vcard; charset=iso-8859-1", card, http.StatusCreated},
		{"Windows-1252, declared", "text/vcard; charset=windows-1252", card, http.StatusCreated},
		{"cp1252, as browsers call it", "text/vcard; charset=cp1252", card, http.StatusCreated},
		{"UTF-8 mislabelled as Latin-1", "text/vcard; charset=iso-8859-1", utf8Card, http.StatusCreated},
		{"UTF-8 with a byte-order mark", "text/vcard", "\xEF\xBB\xBF" + utf8Card, http.StatusCreated},
		{"Latin-1, undeclared", "text/vcard", card, http.StatusBadRequest},
		{"text/xml", "text/xml", utf8Card, http.StatusUnsupportedMediaType},
		{"text/calendar", "text/calendar", utf8Card, http.StatusUnsupportedMediaType},
		{"a charset nobody knows", "text/vcard; charset=klingon", utf8Card, http.StatusUnsupportedMediaType},
		{"a malformed type", "text/vcard; charset", utf8Card, http.StatusUnsupportedMediaType},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			uid := "mt-" + strings.Repeat("x", i)
			r := e.do("PUT", book+uid+".vcf", "alice", strings.Replace(c.card, "%s", uid, 1), "Content-Type", c.ctype)
			if r.code != c.want {
				t.Fatalf("%d, want %d: %s", r.code, c.want, r.body)
			}
			if c.want == http.StatusUnsupportedMediaType && !strings.Contains(r.body, "<C:supported-address-data/>") {
				t.Fatalf("refusal without the precondition: %s", r.body)
			}
			if c.want == http.StatusCreated {
				if got := e.do("GET", book+uid+".vcf", "alice", ""); !strings.Contains(got.body, "FN:Zoë Müller") {
					t.Fatalf("served as:\n%q", got.body)
				}
			}
		})
	}
}

func TestParamFiltersAreEvaluated(t *testing.T) {
	e := newEnv(t, 60)
	book := bookPath("alice", bookPersonal)
	for _, c := range []string{
		"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:home\r\nFN:Homer\r\nTEL;TYPE=home,voice:+1 555 0001\r\nEMAIL;TYPE=INTERNET:h@example.org\r\nEND:VCARD\r\n",
		"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:work\r\nFN:Worker\r\nTEL;TYPE=work:+1 555 0002\r\nEND:VCARD\r\n",
		"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:pref\r\nFN:Preferred\r\nTEL;VALUE=uri;PREF=1;TYPE=\"cell,video\":tel:+1-555-0003\r\nEND:VCARD\r\n",
		"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bare\r\nFN:Bare\r\nTEL;WORK;FAX:+1 555 0004\r\nEND:VCARD\r\n",
		"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:quoted\r\nFN:Quoted\r\nADR;LABEL=\"1 Main St, Town\";TYPE=\"home\",\"postal\":;;1 Main St;Town;;;\r\nEND:VCARD\r\n",
	} {
		if r := e.do("PUT", book+strings.SplitN(strings.SplitN(c, "UID:", 2)[1], "\r", 2)[0]+".vcf", "alice", c); r.code != http.StatusCreated {
			t.Fatalf("PUT: %d %s", r.code, r.body)
		}
	}
	query := func(filter string) (int, []string) {
		prop := `<D:getetag/>`
		if strings.Contains(filter, "PREF") {
			prop += `<C:address-data version="4.0"/>` // PREF is a 4.0 parameter
		}
		r := e.do("REPORT", book, "alice", `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop>`+prop+`</D:prop>`+filter+`</C:addressbook-query>`)
		var got []string
		if r.code == http.StatusMultiStatus {
			for _, resp := range parseMS(t, r.body).Responses {
				got = append(got, strings.TrimSuffix(resp.Href[strings.LastIndex(resp.Href, "/")+1:], ".vcf"))
			}
			sort.Strings(got)
		}
		return r.code, got
	}
	cases := []struct {
		name, filter string
		want         string // matching UIDs, or a status
	}{
		{"a parameter value", `<C:filter><C:prop-filter name="TEL"><C:param-filter name="TYPE"><C:text-match match-type="equals">work</C:text-match></C:param-filter></C:prop-filter></C:filter>`, "bare work"},
		{"one value of a list", `<C:filter><C:prop-filter name="TEL"><C:param-filter name="type"><C:text-match match-type="equals">VOICE</C:text-match></C:param-filter></C:prop-filter></C:filter>`, "home"},
		{"a quoted list", `<C:filter><C:prop-filter name="TEL"><C:param-filter name="TYPE"><C:text-match match-type="equals">video</C:text-match></C:param-filter></C:prop-filter></C:filter>`, "pref"},
		{"a parameter defined", `<C:filter><C:prop-filter name="TEL"><C:param-filter name="PREF"/></C:prop-filter></C:filter>`, "pref"},
		{"a parameter not defined", `<C:filter><C:prop-filter name="TEL"><C:param-filter name="PREF"><C:is-not-defined/></C:param-filter></C:prop-filter></C:filter>`, "bare home work"},
		{"anyof: a text-match or a param-filter", `<C:filter><C:prop-filter name="TEL" test="anyof"><C:text-match>0002</C:text-match><C:param-filter name="TYPE"><C:text-match match-type="equals">home</C:text-match></C:param-filter></C:prop-filter></C:filter>`, "home work"},
		{"allof: both on one instance", `<C:filter><C:prop-filter name="TEL" test="allof"><C:text-match>555</C:text-match><C:param-filter name="TYPE"><C:text-match match-type="equals">home</C:text-match></C:param-filter></C:prop-filter></C:filter>`, "home"},
		{"allof across prop-filters", `<C:filter test="allof"><C:prop-filter name="TEL"/><C:prop-filter name="EMAIL"><C:param-filter name="TYPE"/></C:prop-filter></C:filter>`, "home"},
		{"a quoted value with a comma", `<C:filter><C:prop-filter name="ADR"><C:param-filter name="LABEL"><C:text-match match-type="equals">1 Main St, Town</C:text-match></C:param-filter></C:prop-filter></C:filter>`, "quoted"},
		{"separately quoted values", `<C:filter><C:prop-filter name="ADR"><C:param-filter name="TYPE"><C:text-match match-type="equals">postal</C:text-match></C:param-filter></C:prop-filter></C:filter>`, "quoted"},
		{"negated: none of the values matches", `<C:filter><C:prop-filter name="TEL"><C:param-filter name="TYPE"><C:text-match match-type="equals" negate-condition="yes">home</C:text-match></C:param-filter></C:prop-filter></C:filter>`, "bare pref work"},
		{"a param-filter of two tests is refused", `<C:filter><C:prop-filter name="TEL"><C:param-filter name="TYPE"><C:is-not-defined/><C:text-match>x</C:text-match></C:param-filter></C:prop-filter></C:filter>`, "403"},
		{"a test it cannot evaluate is refused", `<C:filter><C:prop-filter name="TEL"><C:time-range start="20260101T000000Z"/></C:prop-filter></C:filter>`, "403"},
		{"an unknown filter test is refused", `<C:filter test="someof"><C:prop-filter name="TEL"/></C:filter>`, "403"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, got := query(c.filter)
			if c.want == "403" {
				if code != http.StatusForbidden {
					t.Fatalf("%d, want 403", code)
				}
				return
			}
			if code != http.StatusMultiStatus || strings.Join(got, " ") != c.want {
				t.Fatalf("%d: %v, want %s", code, got, c.want)
			}
		})
	}
}

func TestPropPatchStoresWhatClientsSetAndRefusesTheRestPerProperty(t *testing.T) {
	e := newEnv(t, 60)
	personal, company, home := bookPath("alice", bookPersonal), bookPath("alice", bookCompany), homePath("alice")
	update := func(ops string) string {
		return `<D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav" xmlns:A="http://apple.com/ns/ical/">` + ops + `</D:propertyupdate>`
	}
	set := func(props string) string { return `<D:set><D:prop>` + props + `</D:prop></D:set>` }
	remove := func(props string) string { return `<D:remove><D:prop>` + props + `</D:prop></D:remove>` }
	statuses := func(body string) map[string]string {
		out := map[string]string{}
		for _, ps := range parseMS(t, body).Responses[0].Propstats {
			for _, p := range ps.Prop.Props {
				out[p.XMLName.Local] = strings.TrimPrefix(ps.Status, "HTTP/1.1 ")
			}
		}
		return out
	}
	propfind := func(path, props string) string {
		return e.do("PROPFIND", path, "alice", `<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav" xmlns:A="http://apple.com/ns/ical/"><D:prop>`+props+`</D:prop></D:propfind>`, "Depth", "0").body
	}
	cases := []struct {
		name, path, body string
		want             map[string]string // property -> status
		after            func() string     // a PROPFIND whose body must contain check
		check            string
	}{
		{"renaming the personal book", personal, update(set(`<D:displayname>Family &amp; Friends</D:displayname><C:addressbook-description>Mine</C:addressbook-description>`)),
			map[string]string{"displayname": "200 OK", "addressbook-description": "200 OK"},
			func() string { return e.do("PROPFIND", home, "alice", "", "Depth", "1").body }, "<D:displayname>Family &amp; Friends</D:displayname>"},
		{"a dead property a client keeps", personal, update(set(`<A:addressbook-color A:x="no">#FF0000<A:alpha>1</A:alpha></A:addressbook-color>`)),
			map[string]string{"addressbook-color": "200 OK"},
			func() string { return propfind(personal, `<A:addressbook-color/>`) }, `>#FF0000<X:alpha xmlns:X="http://apple.com/ns/ical/">1</X:alpha></X:addressbook-color>`},
		{"allprop includes it", personal, update(remove(`<A:nothing-set/>`)),
			map[string]string{"nothing-set": "200 OK"},
			func() string { return e.do("PROPFIND", personal, "alice", "", "Depth", "0").body }, "addressbook-color"},
		{"a protected property fails the whole update", personal, update(set(`<D:displayname>Other</D:displayname>`) + set(`<D:resourcetype/>`)),
			map[string]string{"displayname": "424 Failed Dependency", "resourcetype": "403 Forbidden"},
			func() string { return propfind(personal, `<D:displayname/>`) }, "Family &amp; Friends"},
		{"the Company book refuses each property", company, update(set(`<D:displayname>Mine now</D:displayname>`) + remove(`<A:x/>`)),
			map[string]string{"displayname": "403 Forbidden", "x": "403 Forbidden"},
			func() string { return propfind(company, `<D:displayname/>`) }, "<D:displayname>Company</D:displayname>"},
		{"a name is text", personal, update(set(`<D:displayname><b>bold</b></D:displayname>`)),
			map[string]string{"displayname": "409 Conflict"}, nil, ""},
		{"a value too large", personal, update(set(`<A:big>` + strings.Repeat("x", maxPropBytes+1) + `</A:big>`)),
			map[string]string{"big": "507 Insufficient Storage"}, nil, ""},
		{"removing the name gives the default back", personal, update(remove(`<D:displayname/>`)),
			map[string]string{"displayname": "200 OK"},
			func() string { return propfind(personal, `<D:displayname/>`) }, "<D:displayname>Personal</D:displayname>"},
		{"the home takes a me-card", home, update(set(`<CS:me-card xmlns:CS="http://calendarserver.org/ns/"><D:href>` + company + `x.vcf</D:href></CS:me-card>`)),
			map[string]string{"me-card": "200 OK"},
			func() string { return propfind(home, `<CS:me-card xmlns:CS="http://calendarserver.org/ns/"/>`) }, "<CS:me-card><D:href>" + company + "x.vcf</D:href></CS:me-card>"},
		{"but not a name", home, update(set(`<D:displayname>Mine</D:displayname>`)),
			map[string]string{"displayname": "403 Forbidden"}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("PROPPATCH", c.path, "alice", c.body)
			if r.code != http.StatusMultiStatus {
				t.Fatalf("%d %s", r.code, r.body)
			}
			wellFormed(t, "PROPPATCH", r.body)
			got := statuses(r.body)
			for p, want := range c.want {
				if got[p] != want {
					t.Fatalf("%s: %q, want %q\n%s", p, got[p], want, r.body)
				}
			}
			if c.after != nil {
				if body := c.after(); !strings.Contains(body, c.check) {
					t.Fatalf("afterwards, no %q in:\n%s", c.check, body)
				}
			}
		})
	}
	many := ""
	for i := range maxSetProps + 1 {
		many += "<A:p" + strconv.Itoa(i) + ">v</A:p" + strconv.Itoa(i) + ">"
	}
	r := e.do("PROPPATCH", personal, "alice", update(set(many)))
	if got := statuses(r.body); got["p0"] != "507 Insufficient Storage" {
		t.Fatalf("more properties than a collection keeps: %v", got)
	}
	if r := e.do("PROPPATCH", bookPath("bob", bookPersonal), "alice", update(set(`<D:displayname>x</D:displayname>`))); r.code != http.StatusNotFound {
		t.Fatalf("another user's book: %d", r.code)
	}
}

func TestDeliberateDeviationsAndRefusalsAreAsDocumented(t *testing.T) {
	e := newEnv(t, 60)
	company := bookPath("alice", bookCompany)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cases := []struct {
		name, method, path, depth string
		want                      int
		check                     func(r reply) bool
	}{
		{"PROPFIND on /.well-known/carddav is answered in place", "PROPFIND", "/.well-known/carddav", "0", http.StatusMultiStatus,
			func(r reply) bool { return strings.Contains(r.body, principalPath("alice")) }},
		{"PROPFIND on / is answered in place", "PROPFIND", "/", "0", http.StatusMultiStatus,
			func(r reply) bool { return strings.Contains(r.body, principalPath("alice")) }},
		{"GET on /.well-known/carddav redirects", "GET", "/.well-known/carddav", "", http.StatusMovedPermanently,
			func(r reply) bool { return r.header.Get("Location") == principalPath("alice") }},
		{"Depth: infinity lists like Depth: 1", "PROPFIND", company, "infinity", http.StatusMultiStatus,
			func(r reply) bool { return strings.Count(r.body, "<D:response>") > 50 }},
		{"no Depth lists like Depth: 1", "PROPFIND", company, "", http.StatusMultiStatus,
			func(r reply) bool { return strings.Count(r.body, "<D:response>") > 50 }},
		{"no Depth on the home lists the books, not every card", "PROPFIND", homePath("alice"), "", http.StatusMultiStatus,
			func(r reply) bool { return strings.Count(r.body, "<D:response>") == 3 }},
		{"MKCOL", "MKCOL", company, "", http.StatusForbidden, func(r reply) bool { return strings.Contains(r.body, "<D:bind/>") }},
		{"COPY", "COPY", company, "", http.StatusForbidden, func(r reply) bool { return strings.Contains(r.body, "need-privileges") }},
		{"MOVE", "MOVE", company, "", http.StatusForbidden, func(r reply) bool { return strings.Contains(r.body, "need-privileges") }},
		{"ACL", "ACL", company, "", http.StatusForbidden, func(r reply) bool { return strings.Contains(r.body, "need-privileges") }},
		{"LOCK", "LOCK", company, "", http.StatusMethodNotAllowed, func(r reply) bool { return !strings.Contains(r.header.Get("Allow"), "LOCK") }},
		{"UNLOCK", "UNLOCK", company, "", http.StatusMethodNotAllowed, func(r reply) bool { return r.header.Get("Allow") != "" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, e.srv.URL+c.path, nil)
			req.SetBasicAuth("alice", "demo")
			if c.depth != "" {
				req.Header.Set("Depth", c.depth)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			r := reply{code: resp.StatusCode, header: resp.Header, body: string(b)}
			if r.code != c.want || !c.check(r) {
				t.Fatalf("%d (want %d), Location %q, Allow %q: %.300s", r.code, c.want, r.header.Get("Location"), r.header.Get("Allow"), r.body)
			}
		})
	}
}

func TestPropPatchOfOddValuesStoresNothingThatBreaksAListing(t *testing.T) {
	e := newEnv(t, 60)
	personal, home := bookPath("alice", bookPersonal), homePath("alice")
	for _, c := range []struct {
		name, body string
		want       int
	}{
		{"an attribute twice", `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><X:a xmlns:X="urn:x"><X:b k="1" k="2"/></X:a></D:prop></D:set></D:propertyupdate>`, http.StatusMultiStatus},
		{"attribute names that are no qualified names", `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><X:a xmlns:X="urn:x"><X:b :k="1" k:="2" xml:lang="de"/></X:a></D:prop></D:set></D:propertyupdate>`, http.StatusMultiStatus},
		{"an empty update", `<D:propertyupdate xmlns:D="DAV:"/>`, http.StatusBadRequest},
		{"a set of nothing", `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop/></D:set></D:propertyupdate>`, http.StatusBadRequest},
		{"a name longer than names are", `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><X:` + strings.Repeat("n", 40000) + ` xmlns:X="urn:x"/></D:prop></D:set></D:propertyupdate>`, http.StatusBadRequest},
		{"many elements in a long namespace", `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><X:a xmlns:X="urn:` + strings.Repeat("n", 1000) + `">` + strings.Repeat("<X:b/>", 20000) + `</X:a></D:prop></D:set></D:propertyupdate>`, http.StatusMultiStatus},
		{"an empty name is the default again", `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>  </D:displayname></D:prop></D:set></D:propertyupdate>`, http.StatusMultiStatus},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("PROPPATCH", personal, "alice", c.body)
			if r.code != c.want {
				t.Fatalf("%d, want %d: %.300s", r.code, c.want, r.body)
			}
			for _, path := range []string{personal, home} {
				for _, body := range []string{"", `<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`, `<D:propfind xmlns:D="DAV:"><D:prop/></D:propfind>`} {
					got := e.do("PROPFIND", path, "alice", body, "Depth", "1")
					wellFormed(t, "PROPFIND after it", got.body)
					for _, resp := range parseMS(t, got.body).Responses {
						if resp.Status == "" && len(resp.Propstats) == 0 {
							t.Fatalf("a response without a propstat: %s", resp.Raw)
						}
						if strings.Count(resp.Raw, "<D:displayname") > 1 {
							t.Fatalf("a name twice: %s", resp.Raw)
						}
					}
				}
			}
		})
	}
	if got := e.do("PROPFIND", personal, "alice", `<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>`, "Depth", "0"); !strings.Contains(got.body, "<D:displayname>Personal</D:displayname>") {
		t.Fatalf("an empty name set: %s", got.body)
	}
	if r := e.do("PROPPATCH", personal+"no-such-card.vcf", "alice", `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname></D:prop></D:set></D:propertyupdate>`); r.code != http.StatusNotFound {
		t.Fatalf("a card that does not exist: %d", r.code)
	}
}

func TestACardTooLargeAsSentIsRefusedBeforeItIsConverted(t *testing.T) {
	e := newEnv(t, 60)
	// UTF-16 shrinks to half as UTF-8: the size as sent counts.
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:big\r\nFN:Big\r\nNOTE:")
	for b.Len() < 600<<10 {
		b.WriteString("x")
	}
	b.WriteString("\r\nEND:VCARD\r\n")
	var utf16 []byte
	for _, c := range []byte(b.String()) {
		utf16 = append(utf16, c, 0)
	}
	r := e.do("PUT", bookPath("alice", bookPersonal)+"big.vcf", "alice", string(utf16), "Content-Type", "text/vcard; charset=utf-16le")
	if r.code != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "max-resource-size") {
		t.Fatalf("a 1.2 MB UTF-16 card: %d %.200s", r.code, r.body)
	}
}
