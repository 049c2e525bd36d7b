package api

import (
	_ "embed"
	"net/http"
)

// openAPIYAML is the API's OpenAPI document, built into the binary so the
// server serves the contract of the code it runs; openapi_test.go keeps the
// two in step.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// mountOpenAPI serves the API's own description:
//
//	GET /api/v1/openapi.yaml   this API as OpenAPI 3.1
func (a *API) mountOpenAPI() {
	a.route("GET "+Prefix+"openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openAPIYAML)
	})
}
