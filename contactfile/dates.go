package contactfile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// noYear is the year Apple writes for a date without one (with
// X-APPLE-OMIT-YEAR=1604); CSV files, which cannot say "no year", get it
// too.
const noYear = 1604

// date is a calendar date; year 0 means no year.
type date struct{ year, month, day int }

func (d date) valid() bool {
	days := [...]int{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	return d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= days[d.month-1]
}

// vcard returns the date in vCard 4.0 form: 19800307 or --0307.
func (d date) vcard() string {
	if d.year == 0 {
		return fmt.Sprintf("--%02d%02d", d.month, d.day)
	}
	return fmt.Sprintf("%04d%02d%02d", d.year, d.month, d.day)
}

// parseCSVDate reads a date as spreadsheets and exports write it:
// 1980-03-07, 19800307, --03-07, 3/7/1980 (Outlook), 7.3.1980 (German
// Outlook), 7/3/1980 when dayFirst (European files, which use ";"
// between fields). A part over 12 settles which is the day. zero is set
// for Outlook's "no date", 0/0/00; ok is false for what is not a date.
func parseCSVDate(s string, dayFirst bool) (d date, zero, ok bool) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " T"); i > 0 {
		s = s[:i] // a time of day, as some tools add, says nothing more
	}
	if rest, found := strings.CutPrefix(s, "--"); found {
		d, ok = monthDay(rest)
		return d, false, ok
	}
	if len(s) == 8 && isDigits(s) {
		d = date{atoi(s[:4]), atoi(s[4:6]), atoi(s[6:])}
		return fixYear(d), false, fixYear(d).valid()
	}
	sep := strings.IndexAny(s, "-/.")
	if sep < 0 {
		return d, false, false
	}
	f := strings.Split(s, s[sep:sep+1])
	if len(f) != 3 {
		return d, false, false
	}
	for _, x := range f {
		if !isDigits(x) || len(x) > 4 {
			return d, false, false
		}
	}
	a, b, c := atoi(f[0]), atoi(f[1]), atoi(f[2])
	if a == 0 && b == 0 && c == 0 {
		return d, true, true
	}
	switch {
	case len(f[0]) == 4:
		d = date{a, b, c}
	case s[sep] == '.' || a > 12 || dayFirst && b <= 12:
		d = date{c, b, a}
	default:
		d = date{c, a, b}
	}
	if len(f[2]) <= 2 && len(f[0]) != 4 {
		d.year = twoDigitYear(d.year)
	}
	d = fixYear(d)
	return d, false, d.valid()
}

func monthDay(s string) (date, bool) {
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 4 || !isDigits(s) {
		return date{}, false
	}
	d := date{0, atoi(s[:2]), atoi(s[2:])}
	return d, d.valid()
}

// fixYear turns the years that stand for "no year" into 0.
func fixYear(d date) date {
	if d.year == noYear || d.year == 0 {
		d.year = 0
	}
	return d
}

// twoDigitYear reads 80 as 1980 and 05 as 2005: birthdays and
// anniversaries are in the past.
func twoDigitYear(y int) int {
	if y > time.Now().Year()%100 {
		return 1900 + y
	}
	return 2000 + y
}

// parseVCardDate reads a vCard 4.0 (19800307, --0307) or 3.0 (1980-03-07)
// date; false for date-times, text and partial dates.
func parseVCardDate(s string) (date, bool) {
	if rest, ok := strings.CutPrefix(s, "--"); ok {
		return monthDay(rest)
	}
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		s = s[:4] + s[5:7] + s[8:]
	}
	if len(s) != 8 || !isDigits(s) {
		return date{}, false
	}
	d := fixYear(date{atoi(s[:4]), atoi(s[4:6]), atoi(s[6:])})
	return d, d.valid()
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
