// Package encoding: the one type jfr-parser uses from golang.org/x/text, for an offline build
// of the benchmark peer (ISO-8859-1 to UTF-8, as x/text's charmap decoder does).
package encoding

import "unicode/utf8"

// Decoder converts ISO-8859-1 bytes to UTF-8.
type Decoder struct{}

// Bytes converts b.
func (d *Decoder) Bytes(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out, nil
}
