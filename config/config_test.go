package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
	"gopkg.in/yaml.v3"
)

// docExample extracts the example from the package comment, so the
// documented configuration is proven to load.
func docExample(t *testing.T) string {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	in := false
	for _, l := range strings.Split(string(src), "\n") {
		switch {
		case strings.HasPrefix(l, "// A complete example"):
			in = true
		case in && strings.HasPrefix(l, "//\t"):
			lines = append(lines, strings.TrimPrefix(l, "//\t"))
		case in && strings.HasPrefix(l, "package "):
			return strings.Join(lines, "\n")
		}
	}
	t.Fatal("no example in the package comment")
	return ""
}

func TestDocumentedExampleLoadsAndEqualsDefaults(t *testing.T) {
	t.Setenv("ORGDAV_CORP_PASSWORD", "from-the-environment")
	ex := docExample(t)
	c, err := Parse([]byte(ex))
	if err != nil {
		t.Fatalf("documented example: %v", err)
	}
	// Outside sources every key is shown with its default.
	got, want := *c, *Default()
	got.Sources, got.Visibility, want.Visibility = nil, Visibility{}, Visibility{}
	// [] and no list are one.
	if len(got.TrustedProxies) == 0 {
		got.TrustedProxies = nil
	}
	if len(got.Admins.Users) == 0 {
		got.Admins.Users = nil
	}
	if len(got.Admins.Groups) == 0 {
		got.Admins.Groups = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the example and the defaults disagree:\n example  %+v\n defaults %+v", got, want)
	}
	r, _ := c.Rules()
	for _, f := range directory.Fields() {
		if r.Audience(f) != directory.DefaultAudiences[f] {
			t.Errorf("example's %s audience %s, default %s", f, r.Audience(f), directory.DefaultAudiences[f])
		}
	}
	if len(c.Sources) != 1 || c.Sources[0].State != StateDraft {
		t.Fatalf("example source: %+v", c.Sources)
	}
	// The source's keys that are not examples of a setting (url, DNs,
	// filters that name the example's attributes) show their defaults.
	src := c.Sources[0]
	def := Source{Name: "corp", Kind: src.Kind}
	def.applyDefaults()
	for _, k := range []struct {
		key           string
		example, code any
	}{
		{"start_tls", src.StartTLS, def.StartTLS}, {"ca_file", src.CAFile, def.CAFile},
		{"tls_server_name", src.TLSServerName, def.TLSServerName}, {"insecure_skip_verify", src.InsecureSkipVerify, def.InsecureSkipVerify},
		{"timeout", src.Timeout, def.Timeout}, {"page_size", src.PageSize, def.PageSize}, {"id_attribute", src.IDAttribute, def.IDAttribute},
		{"login_attributes", src.LoginAttributes, def.LoginAttributes}, {"people.scope", src.People.Scope, def.People.Scope},
		{"people.filter", src.People.Filter, def.People.Filter}, {"people.include_contacts", src.People.IncludeContacts, def.People.IncludeContacts},
		{"groups.filter", src.Groups.Filter, def.Groups.Filter}, {"schedule.interval", src.Schedule.Interval, def.Schedule.Interval},
		{"schedule.incremental", *src.Schedule.Incremental, *def.Schedule.Incremental},
		{"max_removal_share", *src.MaxRemovalShare, *def.MaxRemovalShare}, {"removal_window", *src.RemovalWindow, *def.RemovalWindow},
	} {
		if !reflect.DeepEqual(k.example, k.code) {
			t.Errorf("sources[].%s: the example shows %v, the code's default is %v", k.key, k.example, k.code)
		}
	}
	if pw, _ := src.Password(); pw != "from-the-environment" {
		t.Errorf("password from env: %q", pw)
	}
	lc, err := src.LDAP()
	if err != nil || lc.Mapping["office"] != "roomNumber" || lc.Mapping["email"] != "mail" || lc.Mapping["birthday"] != "" {
		t.Errorf("mapping overrides on defaults: %+v %v", lc.Mapping, err)
	}
	if !strings.Contains(readme(t), ex) {
		t.Error("README.md does not carry the example from config.go's package comment verbatim")
	}
}

func readme(t *testing.T) string {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEveryYAMLExampleInTheREADMELoads copies each yaml block of the README
// into the config loader: an example a newcomer pastes must work.
func TestEveryYAMLExampleInTheREADMELoads(t *testing.T) {
	t.Setenv("ORGDAV_CORP_PASSWORD", "x")
	t.Setenv("ORGDAV_AD_PASSWORD", "x")
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(readme(t), -1)
	if len(blocks) < 3 {
		t.Fatalf("%d yaml blocks in README.md", len(blocks))
	}
	// A CA file in the examples' place: they name files on the admin's
	// machine.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, testCAPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := regexp.MustCompile(`ca_file: /\S+`)
	for _, b := range blocks {
		c, err := Parse([]byte(caFile.ReplaceAllString(b[1], "ca_file: "+ca)))
		if err != nil {
			t.Errorf("README example does not load: %v\n%s", err, b[1])
			continue
		}
		for _, src := range c.Sources {
			if _, err := src.LDAP(); err != nil {
				t.Errorf("README example's source %s: %v", src.Name, err)
			}
			for _, dn := range slices.Concat(src.People.BaseDNs, src.Groups.BaseDNs) {
				if !strings.HasPrefix(strings.ToLower(dn), "ou=") {
					t.Errorf("README example's base DN %q is not an OU: split by YAML?", dn)
				}
			}
		}
	}
}

// TestDefaultsPerKindTableIsWhatTheCodeDoes reads the README's table of
// the defaults each kind of directory gets and compares it with the code.
func TestDefaultsPerKindTableIsWhatTheCodeDoes(t *testing.T) {
	text := readme(t)
	i := strings.Index(text, "<!-- defaults per kind")
	if i < 0 {
		t.Fatal("no defaults-per-kind table in README.md")
	}
	sources := map[string]*Source{}
	for _, kind := range []string{directory.KindLDAP, directory.KindAD} {
		s := &Source{Name: "x", Kind: kind}
		s.applyDefaults()
		sources[kind] = s
	}
	code := func(kind, key string) string {
		s := sources[kind]
		switch key {
		case "id_attribute":
			return s.IDAttribute
		case "login_attributes":
			return strings.Join(s.LoginAttributes, ", ")
		case "people.filter":
			return s.People.Filter
		case "people.hidden_filter":
			return s.People.HiddenFilter
		case "people.disabled_filter":
			return s.People.DisabledFilter
		case "groups.filter":
			return s.Groups.Filter
		}
		if f, ok := strings.CutPrefix(key, "mapping."); ok {
			if !slices.Contains(directory.MappingFields, f) {
				t.Errorf("README lists unknown mapping field %q", f)
			}
			return directory.DefaultMapping(kind)[f]
		}
		t.Errorf("README lists unknown setting %q", key)
		return ""
	}
	rows := 0
	mapped := map[string]bool{}
	for _, line := range strings.Split(text[i:], "\n")[1:] {
		if !strings.HasPrefix(line, "|") {
			if rows > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.ReplaceAll(strings.Trim(line, "| "), `\|`, "\x00"), "|")
		if len(cells) != 3 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "`") {
			continue
		}
		rows++
		key := strings.Trim(strings.TrimSpace(cells[0]), "`")
		mapped[strings.TrimPrefix(key, "mapping.")] = true
		for k, kind := range []string{directory.KindLDAP, directory.KindAD} {
			doc := strings.ReplaceAll(strings.TrimSpace(cells[k+1]), "\x00", "|")
			if doc == "none" {
				doc = ""
			}
			doc = strings.ReplaceAll(doc, "`", "")
			if want := code(kind, key); doc != want {
				t.Errorf("README says %s defaults to %q for kind %s; the code says %q", key, doc, kind, want)
			}
		}
	}
	for _, f := range directory.MappingFields {
		if !mapped[f] {
			t.Errorf("README's table lacks mapping.%s", f)
		}
	}
}

func TestASplitDNListIsRefusedWithAHintToQuote(t *testing.T) {
	base := "sources:\n  - name: corp\n    kind: ldap\n    url: ldap://127.0.0.1\n    people:\n"
	cases := []struct {
		name, yaml, err string
	}{
		{"an unquoted flow list splits a DN at its commas", "      base_dns: [ou=people,dc=example,dc=org]\n",
			`sources[corp].people.base_dns: "dc=example" looks like the end of the DN before it ("ou=people")`},
		{"in every DN list", "      base_dns: [\"ou=people,dc=example,dc=org\"]\n      exclude_ous: [ou=service,ou=people,o=example]\n",
			`sources[corp].people.exclude_ous: "o=example" looks like the end of the DN before it ("ou=people")`},
		{"a quoted flow list is fine", "      base_dns: [\"ou=people,dc=example,dc=org\", \"dc=other,dc=org\", \"o=Example\"]\n", ""},
		{"a block list needs no quotes", "      base_dns:\n        - ou=people,dc=example,dc=org\n        - ou=contacts,dc=example,dc=org\n", ""},
		{"one root DN alone is a DN", "      base_dns: [\"dc=example,dc=org\"]\n", ""},
		{"as are several one-part roots", "      base_dns: [o=Staff, o=Contractors]\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(base + c.yaml))
			switch {
			case c.err == "" && err != nil:
				t.Fatal(err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "quote each DN")):
				t.Fatalf("error %v, want %q and a hint to quote", err, c.err)
			}
		})
	}
}

func TestBindPasswordsAreReadWhenTheSourceIsOpenedNotOnLoad(t *testing.T) {
	yaml := "sources:\n  - name: corp\n    kind: ldap\n    url: ldap://127.0.0.1\n    bind_dn: cn=orgdav,dc=ex\n    bind_password_env: ORGDAV_TEST_UNSET\n    people:\n      base_dns: [\"dc=ex\"]\n"
	c, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("a config whose password variable is unset must load (orgdav logs needs no password): %v", err)
	}
	if _, err := c.Sources[0].LDAP(); err == nil || !strings.Contains(err.Error(), "config: sources[corp].bind_password_env: environment variable ORGDAV_TEST_UNSET is empty or unset") {
		t.Fatalf("opening the source: %v", err)
	}
	for _, name := range []string{"orgdav@example.org", `EXAMPLE\orgdav`} {
		ad := strings.ReplaceAll(strings.ReplaceAll(yaml, "kind: ldap", "kind: ad"), "cn=orgdav,dc=ex", strings.ReplaceAll(name, `\`, `\\`))
		ad = strings.Replace(ad, "bind_dn: ", "bind_dn: \"", 1)
		ad = strings.Replace(ad, "\n    bind_password_env", "\"\n    bind_password_env", 1)
		if _, err := Parse([]byte(ad)); err != nil {
			t.Errorf("AD bind name %s: %v", name, err)
		}
		if _, err := Parse([]byte(strings.Replace(ad, "kind: ad", "kind: ldap", 1))); err == nil {
			t.Errorf("bind name %s accepted for kind ldap", name)
		}
	}
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil || c.Listen != "127.0.0.1:8080" || c.Store.TombstoneRetention.Duration != 400*24*time.Hour {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestBadConfigErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		"listen: nowhere":                    "listen",
		"lisen: 127.0.0.1:1":                 "lisen",
		"data_dir: ''":                       "data_dir",
		"tls: {cert_file: /nonexistent.pem}": "tls",
		"tls: {cert_file: /etc/hostname, key_file: /nonexistent.key}": "tls.key_file",
		"http: {max_request_bytes: 10}":                               "http.max_request_bytes",
		"http: {read_timeout: soon}":                                  "soon",
		"http: {write_timeout: 0s}":                                   "http.write_timeout",
		"books: {company_name: ' '}":                                  "books.company_name",
		"demo: {people: 5}":                                           "demo.people",
		"visibility: {fields: {mobile: friends}}":                     "visibility.fields",
		"visibility: {fields: {shoe_size: everyone}}":                 "visibility.fields.shoe_size",
		"store: {tombstone_retention: 1h}":                            "store.tombstone_retention",
		"auth: {outage_grace: 8d}":                                    "auth.outage_grace",
		"log: {level: loud}":                                          "log.level",
		"log: {format: xml}":                                          "log.format",
		"listen: [a, b]":                                              "listen",
		"memory: {heap_limit_bytes: 1000}":                            "memory.heap_limit_bytes",
		"memory: {heap_limit_bytes: -1}":                              "memory.heap_limit_bytes",
		"memory: {mapped_db_bytes: 10}":                               "memory.mapped_db_bytes",
	}
	for in, key := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %q", in, err, key)
		}
	}
}

// A render cache set larger than the heap limit was valid before the
// limit existed: the limit makes room for it rather than refuse it.
func TestALargeRenderCacheIsValidWithTheDefaultHeapLimit(t *testing.T) {
	for _, in := range []string{"http: {render_cache_bytes: 134217728}", "memory: {heap_limit_bytes: 0, mapped_db_bytes: 0}"} {
		if _, err := Parse([]byte(in)); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestPlainHTTPWarningOnlyOffLoopback(t *testing.T) {
	cases := []struct {
		listen string
		proxy  bool
		warn   bool
	}{
		{"127.0.0.1:8080", false, false},
		{"[::1]:8080", false, false},
		{"localhost:8080", false, false},
		{"0.0.0.0:8080", false, true},
		{":8080", false, true},
		{"0.0.0.0:8080", true, false},
	}
	for _, c := range cases {
		cfg := Default()
		cfg.Listen, cfg.BehindProxy = c.listen, c.proxy
		if got := cfg.PlainHTTPWarning() != ""; got != c.warn {
			t.Errorf("%s proxy=%v: warning %v, want %v", c.listen, c.proxy, got, c.warn)
		}
	}
}

// testCAPEM returns a self-signed certificate, as a ca_file holds.
func testCAPEM(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "orgdav test CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// FuzzParse feeds the loader arbitrary files: it never panics, and what it
// accepts validates again unchanged (defaults applied once are stable).
func FuzzParse(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:8080\n"))
	f.Add([]byte("sources:\n  - name: corp\n    kind: ldap\n    url: ldap://127.0.0.1\n    people:\n      base_dns: [ou=people,dc=example,dc=org]\n"))
	f.Add([]byte("sources:\n  - name: ad\n    kind: ad\n    url: ldaps://10.0.0.5\n    tls_server_name: dc1.example.org\n    bind_dn: EXAMPLE\\\\orgdav\n    bind_password: x\n    removal_window: 2h\n    people:\n      base_dns: [\"OU=Staff,DC=example,DC=org\", \"dc=other\"]\nauth:\n  outage_grace: 1h\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("an error that does not say it is the config's: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted, then refused on a second validation: %v", err)
		}
	})
}

// TestDefaultsTheREADMEProseClaimsAreTheCodes finds every "`key` …
// (default value)" in the README's text and compares the value with the
// reference configuration, which the test above compares with the code.
func TestDefaultsTheREADMEProseClaimsAreTheCodes(t *testing.T) {
	var ref map[string]any
	if err := yaml.Unmarshal([]byte(docExample(t)), &ref); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	var flatten func(prefix string, v any)
	flatten = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, sub := range v {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				flatten(key, sub)
			}
		case []any:
			if prefix == "sources" && len(v) > 0 {
				flatten("", v[0]) // a source's keys are named without a prefix
			}
		default:
			values[prefix] = fmt.Sprint(v)
		}
	}
	flatten("", ref)
	text := strings.Join(strings.Fields(readme(t)), " ")
	claims := regexp.MustCompile("`([a-z_.]+)`[^`]{0,50}?default ([0-9][^),;\\s]*)").FindAllStringSubmatch(text, -1)
	checked := 0
	for _, c := range claims {
		key, claimed := c[1], c[2]
		documented, ok := values[key]
		if !ok {
			continue
		}
		if pct, ok := strings.CutSuffix(claimed, "%"); ok {
			f, _ := strconv.ParseFloat(pct, 64)
			claimed = fmt.Sprint(f / 100)
		}
		same := claimed == documented
		if a, err := ParseDuration(claimed); err == nil {
			b, err := ParseDuration(documented)
			same = err == nil && a == b
		}
		if !same {
			t.Errorf("README says %s defaults to %s; the reference (and the code) says %s", key, c[2], documented)
		}
		checked++
	}
	if checked < 7 {
		t.Fatalf("only %d default claims found in the README's text: %v", checked, claims)
	}
}

func TestSourceKeysAreValidatedByName(t *testing.T) {
	base := "sources:\n  - name: corp\n    kind: ldap\n    url: ldap://127.0.0.1\n    people:\n      base_dns: [\"dc=ex\"]\n"
	cases := []struct{ yaml, err string }{
		{"    removal_window: 0s\n", "sources[corp].removal_window: 0s: want 1m to 30d (to allow any removal, set max_removal_share: 1)"},
		{"    removal_window: 31d\n", "sources[corp].removal_window"},
		{"    tls_server_name: dc1.example.org\n", "sources[corp].tls_server_name: only with an ldaps:// url or start_tls"},
		{"    start_tls: true\n    tls_server_name: \"https://dc1\"\n", "sources[corp].tls_server_name: \"https://dc1\": want a host name"},
		{"    bind_dn: orgdav@example.org\n    bind_password: x\n", "sources[corp].bind_dn"},
	}
	for _, c := range cases {
		if _, err := Parse([]byte(base + c.yaml)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.err)
		}
	}
}

func TestTrustedProxiesAreValidatedAndWideOnesWarned(t *testing.T) {
	cases := []struct {
		yaml, err string
		warnings  int
	}{
		{`trusted_proxies: ["127.0.0.1", "10.0.5.0/29", "2001:db8::1"]`, "", 0},
		{`trusted_proxies: ["0.0.0.0/0"]`, "trusted_proxies[0]: \"0.0.0.0/0\" trusts everyone", 0},
		{`trusted_proxies: ["::/0"]`, "trusts everyone", 0},
		{`trusted_proxies: ["10.0.0.1/8"]`, "has host bits set; did you mean 10.0.0.1 or 10.0.0.0/8?", 0},
		{`trusted_proxies: ["proxy.example.org"]`, "is not an address or a CIDR range", 0},
		{`trusted_proxies: ["10.0.0.0/8", "2001:db8::/48"]`, "", 2},
		{"behind_proxy: true", "", 1},
		{"behind_proxy: true\ntrusted_proxies: [\"127.0.0.1\"]", "", 0},
	}
	for _, c := range cases {
		cfg, err := Parse([]byte(c.yaml))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want %q", c.yaml, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.yaml, err)
		case c.err == "" && len(cfg.ProxyWarnings()) != c.warnings:
			t.Errorf("%s: warnings %q, want %d", c.yaml, cfg.ProxyWarnings(), c.warnings)
		}
	}
}

func TestMetricsKeysAreValidated(t *testing.T) {
	dir := t.TempDir()
	short, long := filepath.Join(dir, "short"), filepath.Join(dir, "long")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	os.WriteFile(long, []byte("0123456789abcdef0123\n"), 0o600)
	for yaml, want := range map[string]string{
		"metrics: {listen: nowhere}":                        "metrics.listen",
		"metrics: {token_file: " + short + "}":              "metrics.token_file",
		"metrics: {token_file: " + dir + "/missing}":        "metrics.token_file",
		"metrics: {listen: \"\", token_file: " + long + "}": "",
	} {
		c, err := Parse([]byte(yaml))
		if want == "" {
			if tok, _ := c.MetricsToken(); err != nil || tok != "0123456789abcdef0123" {
				t.Errorf("%s: %v %q", yaml, err, tok)
			}
		} else if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", yaml, err, want)
		}
	}
}
