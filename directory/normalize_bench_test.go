package directory

import "testing"

func BenchmarkNormalize(b *testing.B) {
	snap := Demo(100000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Normalize(snap); err != nil {
			b.Fatal(err)
		}
	}
}
