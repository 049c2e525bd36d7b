package carddav

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// sameTree reports where two parsed trees differ, or "".
func sameTree(a, b *node, path string) string {
	path += "/" + a.name.Local
	switch {
	case a.name != b.name:
		return fmt.Sprintf("%s: name %v / %v", path, a.name, b.name)
	case a.text != b.text:
		return fmt.Sprintf("%s: text %q / %q", path, a.text, b.text)
	case len(a.attrs) != len(b.attrs):
		return fmt.Sprintf("%s: attributes %v / %v", path, a.attrs, b.attrs)
	case len(a.children) != len(b.children):
		return fmt.Sprintf("%s: %d / %d children", path, len(a.children), len(b.children))
	}
	for i := range a.attrs {
		if a.attrs[i] != b.attrs[i] {
			return fmt.Sprintf("%s: attribute %v / %v", path, a.attrs[i], b.attrs[i])
		}
	}
	for i := range a.children {
		if d := sameTree(a.children[i], b.children[i], path); d != "" {
			return d
		}
	}
	return ""
}

// clientBodies are the real clients' request bodies, as they send them
// (without the files' leading comments).
func clientBodies(t testing.TB) map[string]string {
	files, err := filepath.Glob("testdata/requests/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no client request bodies: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body := string(b)
		for strings.HasPrefix(strings.TrimSpace(body), "<!--") {
			body = strings.TrimSpace(body)
			end := strings.Index(body, "-->")
			if end < 0 {
				break
			}
			body = body[end+3:]
		}
		out[filepath.Base(f)] = strings.TrimSpace(body)
	}
	return out
}

// fastVersusSlow parses body both ways: whether the fast parser took it,
// and how its tree differs from encoding/xml's if it did.
func fastVersusSlow(body string) (taken bool, problem string) {
	fast, ok := fastXML(body)
	if !ok {
		return false, ""
	}
	slow, err := decodeXML(strings.NewReader(body))
	if err != nil {
		return true, fmt.Sprintf("the fast parser took what encoding/xml refuses (%v)", err)
	}
	return true, sameTree(fast, slow, "")
}

// fastIsSlow checks that the fast parser takes body into the tree
// encoding/xml gives.
func fastIsSlow(t *testing.T, name, body string) {
	t.Helper()
	if taken, problem := fastVersusSlow(body); !taken {
		t.Errorf("%s: the fast parser gave up", name)
	} else if problem != "" {
		t.Errorf("%s: %s", name, problem)
	}
}

func TestFastXMLParsesEveryClientBodyAsEncodingXMLDoes(t *testing.T) {
	for name, body := range clientBodies(t) {
		fastIsSlow(t, name, body)
	}
}

func TestFastXMLLeavesToEncodingXMLWhatItDoesNotHandle(t *testing.T) {
	for _, body := range []string{
		``, `   `, `<a>`, `<a></b>`, `<a/><b/>`, `text<a/>`, `<a/>text`,
		`<!DOCTYPE a><a/>`, `<a><!-- c --></a>`, `<a><![CDATA[x]]></a>`, `<a><?pi?></a>`,
		`<a>&#13;</a>`, `<a>&nbsp;</a>`, `<a>x]]>y</a>`, "<a>\r\n</a>", "<a>\x00</a>", "<a>\xff</a>",
		"<a>\uFFFE</a>", `<a x=1/>`, `<a x="<"/>`, `<a x="1"y="2"/>`, `<1a/>`, `<a:b:c/>`, `<:a/>`, `<a:/>`,
		`<xmlns:a/>`, `<xmlns/>`, `<a xmlns:xml="u"/>`, `<a xml:lang="en"/>`, `<é/>`,
		`<?xml version="1.1"?><a/>`, `<?xml version="1.0" encoding="latin1"?><a/>`, `<?xml-stylesheet x?><a/>`,
		"\uFEFF<a/>", `<a xmlns="http://www.w3.org/2000/xmlns/"/>`,
		strings.Repeat("<a>", maxXMLDepth+1) + strings.Repeat("</a>", maxXMLDepth+1),
	} {
		if _, ok := fastXML(body); ok {
			t.Errorf("the fast parser took %q", body)
		}
	}
}

func TestFastXMLDecodesEntitiesAndNamespacesAsEncodingXMLDoes(t *testing.T) {
	for _, body := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`,
		`<?xml version='1.0' standalone="yes" ?><a/>`,
		`<a xmlns="DAV:"><b xmlns="">x</b><c/></a>`,
		`<p:a xmlns:p="u1"><p:b xmlns:p="u2"/><p:c/></p:a>`,
		`<q:a/>`, `<a q:x="1" xmlns:q="u" y='2' xmlns="d"/>`,
		`<a>one &lt;two&gt; &amp; &apos;three&quot;</a>`,
		`<a x="a &amp; b &lt; c" y='"'/>`,
		"<a>\n  <b>  x  </b>\n  text\n  <c/>\n</a>",
		`<a>é 日本 😀 ]] > ]&gt;</a>`,
		`<a   ></a  >`,
		`<D:multiget xmlns:D="DAV:"><D:href>/a%20b.vcf</D:href><D:href> /b.vcf </D:href></D:multiget>`,
	} {
		fastIsSlow(t, strconv.Quote(body), body)
	}
}

func TestParseXMLStreamsABodyTooLargeToReadWhole(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>`)
	for i := 0; b.Len() < maxFastXML+1000; i++ {
		fmt.Fprintf(&b, "<D:href>/dav/books/alice/company/%08d.vcf</D:href>", i)
	}
	b.WriteString(`</C:addressbook-multiget>`)
	root, err := parseXML(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	mr, err := parseMultiget(root)
	if err != nil || len(mr.hrefs) < maxFastXML/60 {
		t.Fatalf("%d hrefs from a %d-byte body: %v", len(mr.hrefs), b.Len(), err)
	}
}

// FuzzFastXMLIsEncodingXML: whatever the fast parser takes, encoding/xml
// takes too, into the same tree.
func FuzzFastXMLIsEncodingXML(f *testing.F) {
	for _, body := range clientBodies(f) {
		f.Add(body)
	}
	f.Add(`<a xmlns="DAV:" x:y="1" xmlns:x="u"><b>&amp;t</b>t2<c/></a>`)
	f.Fuzz(func(t *testing.T, body string) {
		if _, problem := fastVersusSlow(body); problem != "" {
			t.Fatalf("%q: %s", body, problem)
		}
	})
}

// A body of nothing but '<' must not make the parser reserve room for a
// quarter of a million elements before it finds the body is not XML.
func TestFastXMLReservesLittleForABodyOfMarkupCharacters(t *testing.T) {
	body := strings.Repeat("<", maxFastXML-1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, ok := fastXML(body); ok {
		t.Fatal("the fast parser took a body of '<'")
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
		t.Fatalf("giving up on %d bytes of '<' allocated %d bytes", len(body), n)
	}
}

type stalledReader struct{}

func (stalledReader) Read([]byte) (int, error) { return 0, nil }

func TestParseXMLGivesUpOnAReaderThatNeverProgresses(t *testing.T) {
	if _, err := parseXML(stalledReader{}); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("a reader returning nothing forever: %v", err)
	}
}
