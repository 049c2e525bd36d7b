package contactfile

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestZZHang(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.csv")
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 3000; n++ {
		b, _ := os.ReadFile(files[r.Intn(len(files))])
		for k := 0; k < 1+r.Intn(5); k++ {
			i := r.Intn(len(b))
			switch r.Intn(3) {
			case 0:
				b[i] = byte(r.Intn(256))
			case 1:
				b = append(b[:i], b[min(len(b), i+r.Intn(20)):]...)
			case 2:
				b = append(b[:i], append([]byte{"\",;\n\r"[r.Intn(5)]}, b[i:]...)...)
			}
			if len(b) == 0 {
				b = []byte("x")
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			entries, err := ParseCSV(b)
			checkEntries(t, entries, err)
		}()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			os.WriteFile("/tmp/hang.csv", b, 0o644)
			t.Fatalf("hang on input %d", n)
		}
	}
}
