package auth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds the hops read from the right of a forwarding
// header: the left part is whatever the client sent, and reading it all
// would let one request cost as much work as its headers are long.
const maxForwardedHops = 32

// maxForwardedLine is the longest header line read; a proxy appending to a
// longer one (sent by the client) makes the whole header unusable.
const maxForwardedLine = 4096

// ClientAddress is the client a request comes from, which logins are
// throttled by. Only a peer among
// trusted may name another in X-Forwarded-For or Forwarded (RFC 7239):
// anyone else could name whoever they like. Each header is read from the
// right, past the trusted proxies, to the first address none of them is:
// what a client put in front is never reached, as the first untrusted hop
// is the one that talked to a trusted proxy.
//
// Anything unclear counts as the peer: an obfuscated or unknown node, a
// hop that does not parse, too many hops, or both headers present and
// naming different clients (a proxy that sets one passes the other through
// from the client, who could then choose its address). Falling back never
// lets a client pass as another: it only shares the proxy's budget with
// others whose headers are just as unclear.
func ClientAddress(r *http.Request, trusted []netip.Prefix) string {
	peer, addr, ok := peerAddress(r.RemoteAddr)
	if !ok || !isTrusted(addr, trusted) {
		return peer
	}
	xff, hasXFF := r.Header["X-Forwarded-For"]
	fwd, hasFwd := r.Header["Forwarded"]
	var fromXFF, fromFwd netip.Addr
	if hasXFF {
		fromXFF = firstUntrusted(xff, splitXFF, trusted)
	}
	if hasFwd {
		fromFwd = firstUntrusted(fwd, forwardedFor, trusted)
	}
	switch {
	case hasXFF && hasFwd:
		if fromXFF.IsValid() && fromXFF == fromFwd {
			return fromXFF.String()
		}
	case hasXFF && fromXFF.IsValid():
		return fromXFF.String()
	case hasFwd && fromFwd.IsValid():
		return fromFwd.String()
	}
	return peer
}

// peerAddress is the connection's address: as a string whatever it is,
// and parsed when it is an IP address.
func peerAddress(remote string) (string, netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host, netip.Addr{}, false
	}
	addr = normalAddr(addr)
	return addr.String(), addr, true
}

// normalAddr drops what would make one client look like several: a zone,
// and the IPv6 form of an IPv4 address.
func normalAddr(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		// A proxy listed as ::ffff:10.0.0.1 is the IPv4 peer it connects as.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// firstUntrusted walks the nodes of a header's lines (in the order they
// came, each split by split) from the right, and returns the first that is
// not a trusted proxy; the zero Addr if a node is unusable first or none is
// found within maxForwardedHops.
func firstUntrusted(lines []string, split func(string) ([]string, bool), trusted []netip.Prefix) netip.Addr {
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		if len(lines[i]) > maxForwardedLine {
			return netip.Addr{}
		}
		nodes, ok := split(lines[i])
		if !ok {
			return netip.Addr{}
		}
		for j := len(nodes) - 1; j >= 0; j-- {
			if hops++; hops > maxForwardedHops {
				return netip.Addr{}
			}
			a, ok := parseNode(nodes[j])
			if !ok {
				return netip.Addr{}
			}
			if !isTrusted(a, trusted) {
				return a
			}
		}
		// An empty line still costs a hop, so many of them cannot make
		// the walk long.
		if len(nodes) == 0 {
			if hops++; hops > maxForwardedHops {
				return netip.Addr{}
			}
		}
	}
	return netip.Addr{}
}

// splitXFF splits an X-Forwarded-For line, dropping empty list elements
// (RFC 9110 5.6.1).
func splitXFF(line string) ([]string, bool) {
	var nodes []string
	for n := range strings.SplitSeq(line, ",") {
		if n = strings.TrimSpace(n); n != "" {
			nodes = append(nodes, n)
		}
	}
	return nodes, true
}

// parseNode reads a node (RFC 7239 6): an IPv4 address or a bracketed
// IPv6 one, with an optional port, or a bare IPv6 address as proxies write
// in X-Forwarded-For. "unknown" and obfuscated identifiers ("_hidden") do
// not name an address and are refused.
func parseNode(n string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(n); err == nil {
		return normalAddr(a), true
	}
	host, port, hasPort := n, "", false
	if rest, ok := strings.CutPrefix(n, "["); ok {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port = rest[:end], rest[end+1:]
		if port != "" {
			if port, hasPort = strings.CutPrefix(port, ":"); !hasPort {
				return netip.Addr{}, false
			}
		}
	} else if i := strings.IndexByte(n, ':'); i >= 0 {
		host, port, hasPort = n[:i], n[i+1:], true
	}
	if hasPort && !validPort(port) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	// Brackets hold IPv6 and only IPv6; an unbracketed colon only a port.
	if bracketed := n[0] == '['; bracketed != a.Is6() {
		return netip.Addr{}, false
	}
	return normalAddr(a), true
}

// validPort accepts a port number or an obfuscated port (RFC 7239 6.3),
// which does not hide the address.
func validPort(p string) bool {
	if p == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(p, "_"); ok {
		return rest != "" && strings.IndexFunc(rest, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
		}) < 0
	}
	if len(p) > 5 {
		return false
	}
	v := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
	}
	return v <= 65535
}

// forwardedFor returns the for= node of each element of a Forwarded line,
// "" for an element without one; ok is false if the line does not parse
// (RFC 7239 4: elements split by ",", pairs by ";", values tokens or
// quoted strings).
func forwardedFor(line string) (nodes []string, ok bool) {
	i := 0
	skipSpace := func() {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
	}
	for {
		var node string
		hasFor, empty := false, true
		for {
			skipSpace()
			if i == len(line) || line[i] == ',' {
				break
			}
			empty = false
			start := i
			for i < len(line) && !strings.ContainsRune("=;,\" \t", rune(line[i])) {
				i++
			}
			name := line[start:i]
			if name == "" || i == len(line) || line[i] != '=' {
				return nil, false
			}
			i++
			value, ok := forwardedValue(line, &i)
			if !ok {
				return nil, false
			}
			if strings.EqualFold(name, "for") {
				if hasFor {
					return nil, false // RFC 7239 4: at most once per element
				}
				hasFor, node = true, value
			}
			skipSpace()
			if i < len(line) && line[i] == ';' {
				i++
				continue
			}
			if i < len(line) && line[i] != ',' {
				return nil, false
			}
		}
		if !empty {
			// An element without for= names no one: "" is unusable.
			nodes = append(nodes, node)
		}
		if i == len(line) {
			return nodes, true
		}
		i++ // ','
	}
}

// forwardedValue reads a token or a quoted string at *i.
func forwardedValue(line string, i *int) (string, bool) {
	if *i < len(line) && line[*i] == '"' {
		var b strings.Builder
		for j := *i + 1; j < len(line); j++ {
			switch c := line[j]; c {
			case '"':
				*i = j + 1
				return b.String(), true
			case '\\':
				if j++; j == len(line) {
					return "", false
				}
				b.WriteByte(line[j])
			default:
				b.WriteByte(c)
			}
		}
		return "", false
	}
	start := *i
	for *i < len(line) && !strings.ContainsRune(";, \t\"", rune(line[*i])) {
		*i++
	}
	return line[start:*i], *i > start
}
