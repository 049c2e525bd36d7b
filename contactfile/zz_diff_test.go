package contactfile

import (
	"fmt"
	"reflect"
	"testing"
)

func TestZZDiff(t *testing.T) {
	es, _ := ParseCSV(fixture(t, "outlook.csv"))
	c := es[0].Card
	b, _ := Encode(c, "4.0")
	back, _ := ParseVCard(b)
	for k, v := range c {
		if !reflect.DeepEqual(v, back[0].Card[k]) {
			fmt.Printf("%s: %#v\n vs %#v\n", k, v[0], back[0].Card[k][0])
		}
	}
}
