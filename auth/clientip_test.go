package auth

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

var clientIPProxies = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

func clientAddressOf(remote string, headers ...string) string {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return ClientAddress(req, clientIPProxies)
}

func TestClientAddress(t *testing.T) {
	hops := func(n int) string { return strings.Repeat("10.0.0.2, ", n-1) + "10.0.0.3" }
	for _, tc := range []struct {
		name    string
		remote  string
		headers []string
		want    string
	}{
		{"no header", "10.0.0.1:443", nil, "10.0.0.1"},
		{"untrusted peer", "198.51.100.9:443", []string{"X-Forwarded-For", "203.0.113.7"}, "198.51.100.9"},
		{"untrusted peer's Forwarded", "198.51.100.9:443", []string{"Forwarded", "for=203.0.113.7"}, "198.51.100.9"},
		{"trusted peer", "10.0.0.1:443", []string{"X-Forwarded-For", "203.0.113.7"}, "203.0.113.7"},
		{"trusted IPv6 peer", "[2001:db8:ffff::1]:443", []string{"X-Forwarded-For", "203.0.113.7"}, "203.0.113.7"},
		{"trusted peer as IPv4-mapped IPv6", "[::ffff:10.0.0.1]:443", []string{"X-Forwarded-For", "203.0.113.7"}, "203.0.113.7"},
		{"client's entries on the left", "10.0.0.1:443", []string{"X-Forwarded-For", "192.0.2.1, 203.0.113.7"}, "203.0.113.7"},
		{"trusted hops skipped", "10.0.0.1:443", []string{"X-Forwarded-For", "192.0.2.1, 203.0.113.7, 10.0.0.2 ,10.9.9.9"}, "203.0.113.7"},
		{"several X-Forwarded-For lines", "10.0.0.1:443", []string{"X-Forwarded-For", "192.0.2.1", "X-Forwarded-For", "203.0.113.7, 10.0.0.2"}, "203.0.113.7"},
		{"empty list elements", "10.0.0.1:443", []string{"X-Forwarded-For", ", 203.0.113.7,, "}, "203.0.113.7"},
		{"X-Forwarded-For IPv6", "10.0.0.1:443", []string{"X-Forwarded-For", "2001:db8::7"}, "2001:db8::7"},
		{"X-Forwarded-For with port", "10.0.0.1:443", []string{"X-Forwarded-For", "203.0.113.7:5555"}, "203.0.113.7"},
		{"X-Forwarded-For bracketed IPv6 with port", "10.0.0.1:443", []string{"X-Forwarded-For", "[2001:db8::7]:80"}, "2001:db8::7"},
		{"IPv4-mapped client", "10.0.0.1:443", []string{"X-Forwarded-For", "::ffff:203.0.113.7"}, "203.0.113.7"},
		{"zone dropped", "10.0.0.1:443", []string{"X-Forwarded-For", "fe80::1%eth0"}, "fe80::1"},
		{"Forwarded token", "10.0.0.1:443", []string{"Forwarded", "for=203.0.113.7"}, "203.0.113.7"},
		{"Forwarded quoted IPv6 with port", "10.0.0.1:443", []string{"Forwarded", `for="[2001:db8::1]:4711"`}, "2001:db8::1"},
		{"Forwarded quoted IPv4 with port", "10.0.0.1:443", []string{"Forwarded", `for="203.0.113.7:4711"`}, "203.0.113.7"},
		{"Forwarded obfuscated port", "10.0.0.1:443", []string{"Forwarded", `for="[2001:db8::1]:_abc"`}, "2001:db8::1"},
		{"Forwarded quoted-pair", "10.0.0.1:443", []string{"Forwarded", `for="203.0.113\.7"`}, "203.0.113.7"},
		{"Forwarded parameters and case", "10.0.0.1:443", []string{"Forwarded", `proto=https; FOR=203.0.113.7 ;by="[2001:db8:ffff::1]"`}, "203.0.113.7"},
		{"Forwarded chain", "10.0.0.1:443", []string{"Forwarded", `for=192.0.2.1, for=203.0.113.7, for="[2001:db8:ffff::9]"`}, "203.0.113.7"},
		{"several Forwarded lines", "10.0.0.1:443", []string{"Forwarded", "for=192.0.2.1", "Forwarded", "for=203.0.113.7;proto=https"}, "203.0.113.7"},
		{"comma inside a quoted value", "10.0.0.1:443", []string{"Forwarded", `for=203.0.113.7;host="a,b"`}, "203.0.113.7"},
		{"both headers agree", "10.0.0.1:443", []string{"X-Forwarded-For", "203.0.113.7", "Forwarded", "for=203.0.113.7"}, "203.0.113.7"},
		{"both headers differ", "10.0.0.1:443", []string{"X-Forwarded-For", "203.0.113.7", "Forwarded", "for=192.0.2.1"}, "10.0.0.1"},
		{"one header unusable", "10.0.0.1:443", []string{"X-Forwarded-For", "203.0.113.7", "Forwarded", "for=unknown"}, "10.0.0.1"},
		{"obfuscated node", "10.0.0.1:443", []string{"Forwarded", "for=_hidden"}, "10.0.0.1"},
		{"unknown node", "10.0.0.1:443", []string{"X-Forwarded-For", "unknown"}, "10.0.0.1"},
		{"unusable hop before the client", "10.0.0.1:443", []string{"X-Forwarded-For", "203.0.113.7, garbage"}, "10.0.0.1"},
		{"garbage", "10.0.0.1:443", []string{"X-Forwarded-For", "definitely; not, an address"}, "10.0.0.1"},
		{"empty header", "10.0.0.1:443", []string{"X-Forwarded-For", ""}, "10.0.0.1"},
		{"Forwarded unterminated quote", "10.0.0.1:443", []string{"Forwarded", `for="203.0.113.7`}, "10.0.0.1"},
		{"Forwarded proxy appended to a broken line", "10.0.0.1:443", []string{"Forwarded", `for=", for=203.0.113.7`}, "10.0.0.1"},
		{"Forwarded for twice", "10.0.0.1:443", []string{"Forwarded", "for=192.0.2.1;for=203.0.113.7"}, "10.0.0.1"},
		{"Forwarded element without for", "10.0.0.1:443", []string{"Forwarded", "for=192.0.2.1, proto=https"}, "10.0.0.1"},
		{"Forwarded unbracketed IPv6 with port", "10.0.0.1:443", []string{"Forwarded", `for="2001:db8::1]:4711"`}, "10.0.0.1"},
		{"bracketed IPv4", "10.0.0.1:443", []string{"X-Forwarded-For", "[203.0.113.7]:80"}, "10.0.0.1"},
		{"bad port", "10.0.0.1:443", []string{"X-Forwarded-For", "203.0.113.7:99999"}, "10.0.0.1"},
		{"every hop trusted", "10.0.0.1:443", []string{"X-Forwarded-For", "10.0.0.2, 10.0.0.3"}, "10.0.0.1"},
		{"32 hops", "10.0.0.1:443", []string{"X-Forwarded-For", "203.0.113.7, " + hops(31)}, "203.0.113.7"},
		{"more than 32 hops", "10.0.0.1:443", []string{"X-Forwarded-For", "203.0.113.7, " + hops(32)}, "10.0.0.1"},
		{"over-long line", "10.0.0.1:443", []string{"X-Forwarded-For", strings.Repeat(" ", maxForwardedLine) + "203.0.113.7"}, "10.0.0.1"},
		{"remote without port", "10.0.0.1", []string{"X-Forwarded-For", "203.0.113.7"}, "203.0.113.7"},
		{"remote not an address", "@", []string{"X-Forwarded-For", "203.0.113.7"}, "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientAddressOf(tc.remote, tc.headers...); got != tc.want {
				t.Errorf("client %q; want %q", got, tc.want)
			}
		})
	}
}

// Headers come from anyone: no value may crash the server, name an
// address that is not one, or count when the peer is not trusted.
func FuzzClientAddress(f *testing.F) {
	for _, s := range []string{
		"203.0.113.7", "192.0.2.1, 203.0.113.7, 10.0.0.2", "[2001:db8::7]:80", "unknown", "_hidden",
		`for="[2001:db8::1]:4711"`, `for=192.0.2.1;proto=https, for="203.0.113.7:80"`,
		`for="unterminated`, `for=a\"b`, "\x00,\xff", "fe80::1%eth0", "::ffff:203.0.113.7",
	} {
		f.Add(s, "", true)
		f.Add("", s, true)
		f.Add(s, s, false)
	}
	f.Fuzz(func(t *testing.T, xff, fwd string, trusted bool) {
		remote, peer := "198.51.100.9:4711", "198.51.100.9"
		if trusted {
			remote, peer = "10.0.0.1:4711", "10.0.0.1"
		}
		var headers []string
		// A newline separates header lines, as proxies may add their own.
		if xff != "" {
			for _, l := range strings.Split(xff, "\n") {
				headers = append(headers, "X-Forwarded-For", l)
			}
		}
		if fwd != "" {
			for _, l := range strings.Split(fwd, "\n") {
				headers = append(headers, "Forwarded", l)
			}
		}
		got := clientAddressOf(remote, headers...)
		if !trusted {
			if got != peer {
				t.Fatalf("untrusted peer: client %q", got)
			}
			return
		}
		if got == peer {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("client %q is neither the peer nor an address", got)
		}
		if a.String() != got || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("client %q is not in canonical form", got)
		}
		if isTrusted(a, clientIPProxies) {
			t.Fatalf("client %q is a trusted proxy", got)
		}
	})
}
