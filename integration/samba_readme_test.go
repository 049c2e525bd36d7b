package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/orgdav/orgdav/directory"
)

// TestActiveDirectoryAsTheREADMEShows serves a Samba AD domain laid out as
// the README's Active Directory example (people and contacts in two OUs,
// groups in a third, a plain domain user to bind with, LDAPS) with that
// example's config, changed only to name this domain and reach the DC by
// address with tls_server_name.
func TestActiveDirectoryAsTheREADMEShows(t *testing.T) {
	dc := startSamba(t)
	c := dc.admin()
	staff, contacts, groups := "OU=Staff,"+adBase, "OU=Contacts,"+adBase, "OU=Groups,"+adBase
	for _, ou := range []string{staff, contacts, groups} {
		a := ldap.NewAddRequest(ou, nil)
		a.Attribute("objectClass", []string{"organizationalUnit"})
		must(t, c.Add(a))
	}
	for i := 0; i < 8; i++ {
		dc.addUser(c, adUser{sam: fmt.Sprintf("user%d", i), given: "Zoë", family: fmt.Sprintf("Neumann-%d", i),
			dept: []string{"Engineering", "Sales"}[i%2]})
	}
	// The reader: a plain domain user outside the published OUs.
	reader := ldap.NewAddRequest("CN=orgdav-reader,CN=Users,"+adBase, nil)
	reader.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	reader.Attribute("sAMAccountName", []string{"orgdav-reader"})
	reader.Attribute("userPrincipalName", []string{"orgdav-reader@example.test"})
	reader.Attribute("unicodePwd", []string{adPassword("Read-0nly-Secret")})
	reader.Attribute("userAccountControl", []string{"512"})
	must(t, c.Add(reader))
	// A directory group named like a department, with a member from
	// another department.
	g := ldap.NewAddRequest("CN=Engineering,"+groups, nil)
	g.Attribute("objectClass", []string{"top", "group"})
	g.Attribute("sAMAccountName", []string{"Engineering"})
	g.Attribute("member", []string{adDN("user1")})
	must(t, c.Add(g))
	contact := ldap.NewAddRequest("CN=Supplier Hotline,"+contacts, nil)
	contact.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "contact"})
	contact.Attribute("displayName", []string{"Supplier Hotline"})
	contact.Attribute("telephoneNumber", []string{"+1 555 0199"})
	must(t, c.Add(contact))

	example := readmeYAML(t, "sources:\n  - name: ad")
	example = strings.ReplaceAll(example, "DC=example,DC=org", adBase)
	example = strings.ReplaceAll(example, "example.org", "example.test")
	byAddress := regexp.MustCompile(`(?m)^(\s+url: )ldaps://` + regexp.QuoteMeta(adHost) + `(.*)$`)
	example = byAddress.ReplaceAllString(example, "${1}ldaps://127.0.0.1:636${2}\n    tls_server_name: "+adHost)
	example = strings.Replace(example, "/etc/orgdav/ad-ca.pem", dc.caFile, 1)
	if !strings.Contains(example, "tls_server_name") || !strings.Contains(example, dc.caFile) {
		t.Fatalf("the README's AD example changed shape:\n%s", example)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "orgdav.yaml")
	must(t, os.WriteFile(cfg, []byte(example), 0o600))
	password := []string{"ORGDAV_AD_PASSWORD=Read-0nly-Secret"}
	bin := buildBinary(t)
	out, code := orgdavEnv(t, bin, password, "check", "--config", cfg)
	// 8 people and the contact.
	if code != 0 || !strings.Contains(out, "people: 9 read, 9 would be published") {
		t.Fatalf("orgdav check on the README's AD example: %d\n%s", code, out)
	}
	noName := filepath.Join(dir, "by-address.yaml")
	must(t, os.WriteFile(noName, []byte(strings.Replace(example, "    tls_server_name: "+adHost+"\n", "", 1)), 0o600))
	if out, code := orgdavEnv(t, bin, password, "check", "--config", noName); code != 1 || !strings.Contains(out, "set tls_server_name") {
		t.Errorf("reaching the DC by address without tls_server_name: %d\n%s", code, out)
	}

	url, logs, stop := runBinaryEnv(t, bin, password, "--config", cfg, "--data", filepath.Join(dir, "data"))
	defer stop()
	waitFor(t, "the first directory run", func() bool { return metric(t, url, "orgdav_company_book_people") > 0 })
	if n := metric(t, url, "orgdav_company_book_people"); n != 9 {
		t.Fatalf("book: %v people, want 8 and the contact\n%s", n, logs)
	}
	dav := davClient{t: t, base: url}
	for _, l := range []struct {
		user, pass string
		want       int
	}{
		{"user2", "Pw-user2!", http.StatusMultiStatus},
		{"user2@example.test", "Pw-user2!", http.StatusMultiStatus},
		{`EXAMPLE\user2`, "Pw-user2!", http.StatusMultiStatus},
		{`example\user2`, "Pw-user2!", http.StatusMultiStatus},
		{`OTHER\user2`, "Pw-user2!", http.StatusUnauthorized},
		{`EXAMPLE\user2`, "wrong", http.StatusUnauthorized},
		{"orgdav-reader", "Read-0nly-Secret", http.StatusUnauthorized}, // outside the published OUs
	} {
		if code, body := dav.do("PROPFIND", "/", l.user, l.pass, "", "Depth", "0"); code != l.want {
			t.Errorf("login %s: %d, want %d %.200s", l.user, code, l.want, body)
		}
	}
	// One group named Engineering: the directory group, with the
	// department's people and its own member from Sales.
	code, body := dav.do("REPORT", "/dav/books/user2/company/", "user2", "Pw-user2!",
		`<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data/></D:prop>`+
			`<C:filter><C:prop-filter name="FN"><C:text-match match-type="equals">Engineering</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`)
	if code != http.StatusMultiStatus || strings.Count(body, "<D:response>") != 1 {
		t.Fatalf("groups named Engineering: %d\n%s", code, body)
	}
	for _, sam := range []string{"user0", "user1", "user2", "user4", "user6"} {
		res, err := c.Search(ldap.NewSearchRequest(adDN(sam), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"objectGUID"}, nil))
		must(t, err)
		uid := directory.CardUID(directory.PersonKey("ad", directory.GUIDString(res.Entries[0].GetRawAttributeValue("objectGUID"))))
		if !strings.Contains(body, "urn:uuid:"+uid) {
			t.Errorf("the Engineering group lacks %s", sam)
		}
	}
	if strings.Count(body, "X-ADDRESSBOOKSERVER-MEMBER") != 5 {
		t.Errorf("the Engineering group has %d members, want 5:\n%s", strings.Count(body, "X-ADDRESSBOOKSERVER-MEMBER"), body)
	}
}
