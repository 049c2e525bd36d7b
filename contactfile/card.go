package contactfile

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/emersion/go-vcard"
)

// The label property of Apple's property groups, and the name under
// which CSV columns this package does not map are kept.
const (
	fieldLabel   = "X-ABLABEL"
	fieldCSV     = "X-ORGDAV-CSV"
	paramCSVName = "NAME"
)

// ensureFN gives a card without a formatted name one made from its
// name, organisation, e-mail or phone, in that order, and reports false
// when it has none of them: then it is not a contact anyone could find.
// Empty FNs are dropped, so that the first one is the name.
func ensureFN(c vcard.Card) bool {
	var fns []*vcard.Field
	for _, f := range c[vcard.FieldFormattedName] {
		if strings.TrimSpace(f.Value) != "" {
			fns = append(fns, f)
		}
	}
	if len(fns) > 0 {
		c[vcard.FieldFormattedName] = fns
		return true
	}
	fn := fallbackName(c)
	if fn == "" {
		return false
	}
	c.Set(vcard.FieldFormattedName, &vcard.Field{Value: fn})
	return true
}

// fallbackName is the name a card without FN is shown by.
func fallbackName(c vcard.Card) string {
	for _, f := range c[vcard.FieldName] {
		if n := nameFromN(f.Value); n != "" {
			return n
		}
	}
	for _, f := range c[vcard.FieldOrganization] {
		for _, p := range splitParts(f.Value) {
			if p = strings.TrimSpace(p); p != "" {
				return p
			}
		}
	}
	for _, k := range []string{vcard.FieldEmail, vcard.FieldTelephone} {
		for _, f := range c[k] {
			if v := strings.TrimSpace(strings.TrimPrefix(f.Value, "tel:")); v != "" {
				return v
			}
		}
	}
	return ""
}

// nameFromN joins the given, middle and family names of an N value. A
// Chinese, Japanese or Korean name is written family name first and
// without spaces (山田太郎), as people write it.
func nameFromN(v string) string {
	p := splitParts(v)
	order, sep := []int{1, 2, 0}, " "
	if strings.IndexFunc(v, isCJK) >= 0 {
		order, sep = []int{0, 1, 2}, ""
	}
	var words []string
	for _, i := range order {
		if w := strings.TrimSpace(part(p, i)); w != "" {
			words = append(words, w)
		}
	}
	return strings.Join(words, sep)
}

func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// typeSet returns a field's TYPE values, lower case, without "pref",
// "voice" and "internet", which say nothing about which number or
// address it is.
func typeSet(f *vcard.Field) map[string]bool {
	set := map[string]bool{}
	for _, t := range f.Params.Types() {
		switch t {
		case "pref", "voice", "internet":
		default:
			set[t] = true
		}
	}
	return set
}

func isPref(f *vcard.Field) bool {
	if f.Params == nil {
		return false
	}
	n, err := strconv.Atoi(f.Params.Get(vcard.ParamPreferred))
	return err == nil && n == 1 || f.Params.HasType("pref")
}

// groupLabels returns the X-ABLabel of each property group of a card,
// keyed by the group's name in lower case.
func groupLabels(c vcard.Card) map[string]string {
	labels := map[string]string{}
	for _, f := range c[fieldLabel] {
		if f.Group != "" {
			labels[strings.ToLower(f.Group)] = appleLabel(f.Value)
		}
	}
	return labels
}

// appleLabel turns Apple's built-in labels ("_$!<HomePage>!$_") into the
// word people read.
func appleLabel(v string) string {
	if s, ok := strings.CutPrefix(v, "_$!<"); ok {
		if s, ok := strings.CutSuffix(s, ">!$_"); ok {
			return s
		}
	}
	return v
}
