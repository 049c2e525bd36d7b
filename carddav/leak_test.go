package carddav

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/directory"
)

// fieldValues lists the values a card shows for each ruled field, in the
// forms they can take on the wire.
func fieldValues(e *directory.Entry) map[directory.Field][]string {
	v := map[directory.Field][]string{}
	add := func(f directory.Field, s string) {
		if s != "" {
			v[f] = append(v[f], s, string(appendEscaped(nil, s)))
		}
	}
	for _, m := range e.Emails {
		add(directory.FieldEmail, m)
	}
	for _, p := range e.Phones {
		switch p.Kind {
		case directory.PhoneMobile:
			add(directory.FieldMobile, p.Number)
		case directory.PhoneHome:
			add(directory.FieldHomePhone, p.Number)
		case directory.PhoneWork:
			add(directory.FieldWorkPhone, p.Number)
		case directory.PhoneFax:
			add(directory.FieldFax, p.Number)
		}
	}
	if e.Address != nil {
		add(directory.FieldAddress, e.Address.Street)
	}
	add(directory.FieldEmployeeID, e.EmployeeID)
	if e.Notes != "" {
		add(directory.FieldNotes, strings.Split(e.Notes, "\n")[0])
	}
	add(directory.FieldOffice, e.Office)
	return v
}

// unfoldBody turns a response body back into unfolded vCard text.
func unfoldBody(body string) string {
	body = strings.ReplaceAll(body, "&#13;", "\r")
	body = strings.ReplaceAll(body, "\r\n ", "")
	body = strings.ReplaceAll(body, "&lt;", "<")
	body = strings.ReplaceAll(body, "&gt;", ">")
	return strings.ReplaceAll(body, "&amp;", "&")
}

func TestNoResponseLeaksAFieldTheViewerMayNotSee(t *testing.T) {
	e := newEnv(t, 300)
	pub, err := directory.Normalize(e.snap)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, uint64(len(pub.People))))
	queryAll := `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop></C:addressbook-query>`
	// A query on a hidden field must not reveal which cards have it.
	probe := func(val string) string {
		return `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter><C:prop-filter name="TEL"><C:text-match>` + val + `</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`
	}
	viewers := 0
	for _, i := range rng.Perm(len(pub.People)) {
		if viewers == 8 {
			break
		}
		viewer := &pub.People[i]
		if viewer.Username == "" {
			continue
		}
		viewers++
		user := viewer.Username
		view := directory.View{Department: viewer.Department, Groups: viewer.Groups, IsManager: viewer.IsManager}
		allowed, forbidden := map[string]bool{}, map[string]string{}
		for j := range pub.People {
			p := &pub.People[j]
			mask := e.rules.Mask(directory.Relate(&view, p.Department, p.Groups))
			for f, vals := range fieldValues(p) {
				for _, v := range vals {
					if mask.Has(f) {
						allowed[v] = true
					} else {
						forbidden[v] = p.Username + "/" + f.String()
					}
				}
			}
		}
		company := bookPath(user, bookCompany)
		var bodies []string
		record := func(r reply) {
			if r.code >= 400 {
				t.Fatalf("viewer %s: status %d: %.200s", user, r.code, r.body)
			}
			bodies = append(bodies, r.body)
		}
		record(e.do("PROPFIND", company, user, `<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><prop><getetag/><C:address-data/></prop></propfind>`, "Depth", "1"))
		record(e.do("PROPFIND", homePath(user), user, "", "Depth", "1"))
		record(e.do("PROPFIND", principalPath(user), user, "", "Depth", "0"))
		sync := e.do("REPORT", company, user, syncBody("", true))
		record(sync)
		record(e.do("REPORT", company, user, queryAll))
		var hrefs []string
		for _, resp := range parseMS(t, sync.body).Responses {
			hrefs = append(hrefs, "<D:href>"+resp.Href+"</D:href>")
		}
		record(e.do("REPORT", company, user, `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data version="4.0"/></D:prop>`+strings.Join(hrefs, "")+`</C:addressbook-multiget>`))
		for k, h := range hrefs {
			if k%10 == 0 {
				path := strings.TrimSuffix(strings.TrimPrefix(h, "<D:href>"), "</D:href>")
				record(e.do("GET", path, user, ""))
				record(e.do("GET", path, user, "", "Accept", "text/vcard; version=4.0"))
			}
		}
		all := unfoldBody(strings.Join(bodies, "\n"))
		checked := 0
		for v, what := range forbidden {
			if allowed[v] || len(v) < 6 {
				continue
			}
			checked++
			if strings.Contains(all, v) {
				t.Errorf("viewer %s sees %s: %q", user, what, v)
			}
			if strings.HasPrefix(v, "+") && checked%25 == 0 {
				r := e.do("REPORT", company, user, probe(v))
				if r.code != http.StatusMultiStatus || len(parseMS(t, r.body).Responses) != 0 {
					t.Errorf("viewer %s: query on hidden %s %q matched", user, what, v)
				}
			}
		}
		if checked < 50 {
			t.Fatalf("viewer %s: only %d forbidden values checked; the test data is too uniform", user, checked)
		}
	}
}
