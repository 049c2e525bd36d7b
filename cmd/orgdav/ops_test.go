package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMetricsAreServedOnlyToWhomTheConfigSays(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics")) })
	const token = "0123456789abcdef0123"
	cases := []struct {
		name    string
		token   string
		local   bool // no metrics listener and no proxy in front
		peer    string
		headers []string
		want    int
	}{
		{"a loopback peer by default", "", true, "127.0.0.1:5000", nil, http.StatusOK},
		{"an IPv6 loopback peer", "", true, "[::1]:5000", nil, http.StatusOK},
		{"anyone else by default", "", true, "203.0.113.5:5000", nil, http.StatusForbidden},
		{"a loopback peer forwarding for someone", "", true, "127.0.0.1:5000", []string{"X-Forwarded-For", "203.0.113.5"}, http.StatusForbidden},
		{"a loopback peer with Forwarded", "", true, "127.0.0.1:5000", []string{"Forwarded", "for=203.0.113.5"}, http.StatusForbidden},
		{"loopback behind a proxy or with a metrics listener", "", false, "127.0.0.1:5000", nil, http.StatusForbidden},
		{"the token from anywhere", token, false, "203.0.113.5:5000", []string{"Authorization", "Bearer " + token}, http.StatusOK},
		{"the token, lower-case scheme", token, false, "203.0.113.5:5000", []string{"Authorization", "bearer " + token}, http.StatusOK},
		{"a wrong token", token, true, "127.0.0.1:5000", []string{"Authorization", "Bearer " + token + "x"}, http.StatusUnauthorized},
		{"no token when one is set, even from loopback", token, true, "127.0.0.1:5000", nil, http.StatusUnauthorized},
		{"a DAV login is not a metrics token", token, true, "127.0.0.1:5000", []string{"Authorization", "Basic YWxpY2U6ZGVtbw=="}, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/metrics", nil)
			r.RemoteAddr = c.peer
			for i := 0; i+1 < len(c.headers); i += 2 {
				r.Header.Set(c.headers[i], c.headers[i+1])
			}
			w := httptest.NewRecorder()
			metricsAccess(ok, c.token, c.local).ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("%d, want %d: %s", w.Code, c.want, w.Body)
			}
		})
	}
}
