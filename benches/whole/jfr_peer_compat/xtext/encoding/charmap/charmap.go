// Package charmap: ISO8859_1 only.
package charmap

import "golang.org/x/text/encoding"

type charmap struct{}

// NewDecoder returns a Latin-1 decoder.
func (charmap) NewDecoder() *encoding.Decoder { return &encoding.Decoder{} }

// ISO8859_1 is Latin-1.
var ISO8859_1 charmap
