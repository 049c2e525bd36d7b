package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMetricsOnThePhonesListenerNeedTheToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics")) })
	const token = "0123456789abcdef0123"
	cases := []struct {
		name    string
		token   string
		peer    string
		headers []string
		want    int
	}{
		{"nobody without a token configured, not even this machine", "", "127.0.0.1:5000", nil, http.StatusForbidden},
		{"nor anyone else", "", "203.0.113.5:5000", nil, http.StatusForbidden},
		{"the token from anywhere", token, "203.0.113.5:5000", []string{"Authorization", "Bearer " + token}, http.StatusOK},
		{"the token, lower-case scheme", token, "203.0.113.5:5000", []string{"Authorization", "bearer " + token}, http.StatusOK},
		{"a wrong token", token, "127.0.0.1:5000", []string{"Authorization", "Bearer " + token + "x"}, http.StatusUnauthorized},
		{"no token from loopback", token, "127.0.0.1:5000", nil, http.StatusUnauthorized},
		{"a DAV login is not a metrics token", token, "127.0.0.1:5000", []string{"Authorization", "Basic YWxpY2U6ZGVtbw=="}, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/metrics", nil)
			r.RemoteAddr = c.peer
			for i := 0; i+1 < len(c.headers); i += 2 {
				r.Header.Set(c.headers[i], c.headers[i+1])
			}
			w := httptest.NewRecorder()
			metricsAccess(ok, c.token).ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("%d, want %d: %s", w.Code, c.want, w.Body)
			}
		})
	}
}
