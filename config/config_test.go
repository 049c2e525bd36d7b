package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
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
	d := Default()
	if c.Listen != d.Listen || c.HTTP != d.HTTP || c.Store != d.Store || c.Demo != d.Demo {
		t.Fatalf("example and defaults disagree:\n%+v\n%+v", c, d)
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
	if pw, _ := c.Sources[0].Password(); pw != "from-the-environment" {
		t.Errorf("password from env: %q", pw)
	}
	lc, err := c.Sources[0].LDAP()
	if err != nil || lc.Mapping["department"] != "ou" || lc.Mapping["email"] != "mail" {
		t.Errorf("mapping overrides on defaults: %+v %v", lc.Mapping, err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), ex) {
		t.Error("README.md does not carry the example from config.go's package comment verbatim")
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
		"log: {level: loud}":                                          "log.level",
		"log: {format: xml}":                                          "log.format",
		"listen: [a, b]":                                              "listen",
	}
	for in, key := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %q", in, err, key)
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
