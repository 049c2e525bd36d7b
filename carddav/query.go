package carddav

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// An addressbook-query (RFC 6352 8.6, 10.5) is evaluated on the viewer's
// own rendering of each card, so a filter can never find a field the viewer
// may not see. What the server cannot evaluate is refused with
// CARDDAV:supported-filter, never dropped: a dropped test gives wrong
// answers, missed cards under anyof and extra ones under allof.

// queryRequest is a CARDDAV:addressbook-query REPORT.
type queryRequest struct {
	prop    propRequest
	allOf   bool
	filters []propFilter
	limit   int
}

// propFilter tests the instances of one property: defined or not, and
// text-matches on the value and param-filters combined by its test.
type propFilter struct {
	name         string
	allOf        bool
	isNotDefined bool
	texts        []textMatch
	params       []paramFilter
}

// paramFilter tests one parameter of a property instance: defined, not
// defined, or with a value that matches.
type paramFilter struct {
	name         string
	isNotDefined bool
	text         *textMatch
}

type textMatch struct {
	text      string // lower-cased when caseless
	matchType string // equals, contains, starts-with, ends-with
	negate    bool
	caseless  bool
}

// A query costs the cards of the book times its terms: these bound one
// query's work. Clients search with a few (iOS: FN, EMAIL, NICKNAME...).
const (
	maxQueryTerms    = 32  // prop-filters, text-matches and param-filters
	maxTextMatchSize = 256 // bytes of one text-match
)

// errUnsupportedFilter is refused with CARDDAV:supported-filter.
type errUnsupportedFilter struct{ what string }

func (e *errUnsupportedFilter) Error() string { return e.what }

type unsupportedCollation struct{ name string }

func (u *unsupportedCollation) Error() string { return "collation " + u.name + " not supported" }

func parseQuery(root *node) (queryRequest, error) {
	var qr queryRequest
	var err error
	if qr.prop, err = parsePropSpec(root); err != nil {
		return qr, err
	}
	if qr.limit, err = parseLimit(root.child(nsCard, "limit")); err != nil {
		return qr, err
	}
	f := root.child(nsCard, "filter")
	if f == nil {
		return qr, nil
	}
	if qr.allOf, err = filterTest(f); err != nil {
		return qr, err
	}
	terms := 0
	for _, pf := range f.children {
		if !pf.is(nsCard, "prop-filter") {
			return qr, &errUnsupportedFilter{fmt.Sprintf("%s in a filter: want prop-filter", pf.name.Local)}
		}
		if terms += 1 + len(pf.children); terms > maxQueryTerms {
			return qr, &errUnsupportedFilter{fmt.Sprintf("more than %d prop-filters, text-matches and param-filters in one query", maxQueryTerms)}
		}
		p, err := parsePropFilter(pf)
		if err != nil {
			return qr, err
		}
		qr.filters = append(qr.filters, p)
	}
	return qr, nil
}

// filterTest reads a test attribute: anyof (the default) or allof.
func filterTest(n *node) (allOf bool, err error) {
	switch t := strings.ToLower(n.attr("test")); t {
	case "", "anyof":
		return false, nil
	case "allof":
		return true, nil
	default:
		return false, &errUnsupportedFilter{fmt.Sprintf("test %q: want anyof or allof", t)}
	}
}

func parsePropFilter(pf *node) (propFilter, error) {
	p := propFilter{name: strings.ToUpper(pf.attr("name"))}
	if p.name == "" {
		return p, errors.New("prop-filter without name")
	}
	var err error
	if p.allOf, err = filterTest(pf); err != nil {
		return p, err
	}
	for _, c := range pf.children {
		switch {
		case c.is(nsCard, "is-not-defined"):
			p.isNotDefined = true
		case c.is(nsCard, "text-match"):
			tm, err := parseTextMatch(c)
			if err != nil {
				return p, err
			}
			p.texts = append(p.texts, tm)
		case c.is(nsCard, "param-filter"):
			pm := paramFilter{name: strings.ToUpper(c.attr("name"))}
			if pm.name == "" {
				return p, errors.New("param-filter without name")
			}
			// RFC 6352 10.5.2: is-not-defined or one text-match, or none.
			if len(c.children) > 1 {
				return p, &errUnsupportedFilter{"a param-filter holds is-not-defined or one text-match"}
			}
			for _, cc := range c.children {
				switch {
				case cc.is(nsCard, "is-not-defined"):
					pm.isNotDefined = true
				case cc.is(nsCard, "text-match"):
					tm, err := parseTextMatch(cc)
					if err != nil {
						return p, err
					}
					pm.text = &tm
				default:
					return p, &errUnsupportedFilter{fmt.Sprintf("%s in a param-filter", cc.name.Local)}
				}
			}
			p.params = append(p.params, pm)
		default:
			return p, &errUnsupportedFilter{fmt.Sprintf("%s in a prop-filter", c.name.Local)}
		}
	}
	if p.isNotDefined && (len(p.texts) > 0 || len(p.params) > 0) {
		return p, &errUnsupportedFilter{"is-not-defined beside other tests in one prop-filter"}
	}
	return p, nil
}

func parseTextMatch(c *node) (textMatch, error) {
	if len(c.text) > maxTextMatchSize {
		return textMatch{}, &errUnsupportedFilter{fmt.Sprintf("a text-match of %d bytes: at most %d", len(c.text), maxTextMatchSize)}
	}
	tm := textMatch{text: c.text, matchType: strings.ToLower(c.attr("match-type"))}
	switch strings.ToLower(c.attr("negate-condition")) {
	case "", "no":
	case "yes":
		tm.negate = true
	default:
		return tm, fmt.Errorf("negate-condition %q: want yes or no", c.attr("negate-condition"))
	}
	if tm.matchType == "" {
		tm.matchType = "contains"
	}
	switch tm.matchType {
	case "equals", "contains", "starts-with", "ends-with":
	default:
		return tm, fmt.Errorf("text-match match-type %q not supported", tm.matchType)
	}
	switch col := c.attr("collation"); col {
	case "", "i;unicode-casemap", "i;ascii-casemap":
		tm.caseless = true
		tm.text = strings.ToLower(tm.text)
	case "i;octet":
	default:
		return tm, &unsupportedCollation{col}
	}
	return tm, nil
}

// query answers addressbook-query by matching the viewer's own rendering of
// each card, so a filter can never find a field the viewer may not see.
func (s *Server) query(w http.ResponseWriter, r *http.Request, v *viewer, b book, qr queryRequest) {
	href := bookPath(v.user, b.id())
	plan := newCardPlan(qr.prop)
	defer plan.release()
	bw, finish := body(w, r, "application/xml; charset=utf-8", http.StatusMultiStatus)
	m := ms{bw}
	m.open()
	n := 0
	truncated := false
	ctx := r.Context()
	b.list(func(mem member) bool {
		if ctx.Err() != nil {
			return false // the client has gone: stop the work
		}
		// In the version the client asked for: a 4.0 parameter such as
		// PREF is a TYPE value in 3.0. Fetched once: the response sends
		// these bytes.
		data, etag, err := b.get(mem.path(), plan.v4)
		if err != nil || !qr.matches(data) {
			return true
		}
		if qr.limit > 0 && n >= qr.limit {
			truncated = true
			return false
		}
		n++
		mem.etag = []byte(etag)
		s.writeMember(m, b, href, mem, &plan, data)
		return true
	})
	if truncated {
		m.w.WriteString("<D:response><D:href>")
		escapeTo(m.w, href)
		m.w.WriteString("</D:href><D:status>" + status507 + "</D:status><D:error><D:number-of-matches-within-limits/></D:error></D:response>")
	}
	m.close()
	if err := finish(); err != nil {
		s.log.Debug("writing query response failed", "err", err)
	}
}

var textUnescaper = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\N`, "\n", `\,`, ",", `\;`, ";")

// matches evaluates the filter against a card's properties.
func (q *queryRequest) matches(card []byte) bool {
	if len(q.filters) == 0 {
		return true
	}
	var lines []contentLine
	for _, l := range unfold(card) {
		if cl, ok := parseLine(l.text); ok {
			// Unescaped and folded once per card, not once per term.
			cl.value = textUnescaper.Replace(cl.value)
			lines = append(lines, cl)
		}
	}
	for i := range q.filters {
		ok := q.filters[i].matches(lines)
		if ok && !q.allOf {
			return true
		}
		if !ok && q.allOf {
			return false
		}
	}
	return q.allOf
}

// matches reports whether any instance of the property passes the
// filter's tests.
func (f *propFilter) matches(lines []contentLine) bool {
	defined := false
	for i := range lines {
		l := &lines[i]
		if l.name != f.name {
			continue
		}
		defined = true
		if !f.isNotDefined && f.instanceMatches(l) {
			return true
		}
	}
	return f.isNotDefined && !defined
}

// instanceMatches combines the text-matches on the value and the
// param-filters by the filter's test; with none, being defined is enough.
func (f *propFilter) instanceMatches(l *contentLine) bool {
	if len(f.texts) == 0 && len(f.params) == 0 {
		return true
	}
	for i := range f.texts {
		ok := f.texts[i].matchValue(l.value)
		if ok && !f.allOf {
			return true
		}
		if !ok && f.allOf {
			return false
		}
	}
	for i := range f.params {
		ok := f.params[i].matches(l)
		if ok && !f.allOf {
			return true
		}
		if !ok && f.allOf {
			return false
		}
	}
	return f.allOf
}

// matches tests a parameter of one property instance. A bare parameter
// (vCard 2.1's "TEL;WORK") is a TYPE value. The text-match holds when one
// of the parameter's values matches ("TYPE=work,voice" and
// TYPE="work","voice" hold two); negated, when none does.
func (p *paramFilter) matches(l *contentLine) bool {
	defined, matched := false, false
	for _, raw := range l.params {
		k, v, hasValue := strings.Cut(raw, "=")
		if !hasValue {
			k, v = "TYPE", raw
		}
		if !strings.EqualFold(k, p.name) {
			continue
		}
		defined = true
		if p.text == nil {
			break
		}
		for _, item := range paramValues(k, v) {
			if p.text.valueMatches(item) {
				matched = true
			}
		}
	}
	switch {
	case p.isNotDefined:
		return !defined
	case p.text != nil:
		return defined && matched != p.text.negate
	}
	return defined
}

// paramValues splits a parameter's value at its commas into values,
// unquoting each and decoding RFC 6868's ^ escapes. TYPE, PID and SORT-AS
// are lists even inside quotes (RFC 6350's own TYPE="voice,home"); in
// other parameters a quoted comma is part of the value
// (LABEL="1 Main St, Town").
func paramValues(name, v string) []string {
	list := strings.EqualFold(name, "TYPE") || strings.EqualFold(name, "PID") || strings.EqualFold(name, "SORT-AS")
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case c == ',' && (!quoted || list):
			out = append(out, cur.String())
			cur.Reset()
		case c == '^' && i+1 < len(v) && strings.IndexByte("n'^", v[i+1]) >= 0:
			cur.WriteString(map[byte]string{'n': "\n", '\'': `"`, '^': "^"}[v[i+1]])
			i++
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}

func (tm *textMatch) matchValue(val string) bool {
	return tm.valueMatches(val) != tm.negate
}

// valueMatches is the match itself, before negate-condition.
func (tm *textMatch) valueMatches(val string) bool {
	needle := tm.text // lower-cased by parseTextMatch when caseless
	if tm.caseless {
		val = strings.ToLower(val)
	}
	var ok bool
	switch tm.matchType {
	case "equals":
		ok = val == needle
	case "starts-with":
		ok = strings.HasPrefix(val, needle)
	case "ends-with":
		ok = strings.HasSuffix(val, needle)
	default:
		ok = strings.Contains(val, needle)
	}
	return ok
}
