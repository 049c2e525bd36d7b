package directory

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"

	// Directories hold PNG and GIF photos too; they are re-encoded as JPEG.
	_ "image/gif"
	_ "image/png"

	"golang.org/x/image/draw"
)

const (
	// PhotoMaxPixels bounds a published photo's width and height.
	PhotoMaxPixels = 256
	// maxPhotoInput refuses absurd attribute values before decoding.
	maxPhotoInput = 8 << 20
)

// ProcessPhoto turns a directory photo into a small JPEG without metadata:
// a JPEG already within bounds only loses its metadata segments (EXIF, XMP,
// comments) and keeps its pixels byte for byte; anything else is decoded,
// scaled to fit PhotoMaxPixels and re-encoded.
func ProcessPhoto(raw []byte) ([]byte, error) {
	if len(raw) > maxPhotoInput {
		return nil, fmt.Errorf("photo of %d bytes exceeds %d", len(raw), maxPhotoInput)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("photo: %w", err)
	}
	if format == "jpeg" && cfg.Width <= PhotoMaxPixels && cfg.Height <= PhotoMaxPixels {
		if out, err := stripJPEGMetadata(raw); err == nil && len(out) <= MaxPhotoBytes {
			return out, nil
		}
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("photo: %w", err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > PhotoMaxPixels || h > PhotoMaxPixels {
		if w >= h {
			w, h = PhotoMaxPixels, max(1, h*PhotoMaxPixels/w)
		} else {
			w, h = max(1, w*PhotoMaxPixels/h), PhotoMaxPixels
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	for _, q := range []int{82, 65, 45} {
		var out bytes.Buffer
		if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: q}); err != nil {
			return nil, fmt.Errorf("photo: encode: %w", err)
		}
		if out.Len() <= MaxPhotoBytes {
			return out.Bytes(), nil
		}
	}
	return nil, errors.New("photo: cannot be made small enough")
}

// stripJPEGMetadata drops APP1-APP13, APP15 and COM segments. APP0 (JFIF)
// and APP14 (Adobe colour transform) stay: decoders need them.
func stripJPEGMetadata(b []byte) ([]byte, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, errors.New("not a JPEG")
	}
	out := make([]byte, 0, len(b))
	out = append(out, 0xFF, 0xD8)
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return nil, errors.New("bad JPEG marker")
		}
		marker := b[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA { // start of scan: the rest is image data
			return append(out, b[i:]...), nil
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 || i+2+n > len(b) {
			return nil, errors.New("truncated JPEG segment")
		}
		meta := (marker >= 0xE1 && marker <= 0xED) || marker == 0xEF || marker == 0xFE
		if !meta {
			out = append(out, b[i:i+2+n]...)
		}
		i += 2 + n
	}
	return nil, errors.New("JPEG without image data")
}
