// The peer a Go user would pick for pprof: google/pprof's profile package (the copy Go's own
// source tree vendors under cmd/vendor) parses each file (gzipped or not), the stacks of the
// first sample type are aggregated by their frame names (inlined frames expanded, root first)
// and printed as sorted folded lines, the same work `ingest-server convert` does.
package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopeer/profile"
)

func main() {
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		stacks := map[string]int64{}
		var b strings.Builder
		for _, s := range p.Sample {
			b.Reset()
			for i := len(s.Location) - 1; i >= 0; i-- {
				lines := s.Location[i].Line
				for j := len(lines) - 1; j >= 0; j-- {
					if b.Len() > 0 {
						b.WriteByte(';')
					}
					if lines[j].Function != nil {
						b.WriteString(lines[j].Function.Name)
					}
				}
			}
			stacks[b.String()] += s.Value[0]
		}
		keys := make([]string, 0, len(stacks))
		for k := range stacks {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w := bufio.NewWriter(os.Stdout)
		for _, k := range keys {
			fmt.Fprintf(w, "%s %d\n", k, stacks[k])
		}
		w.Flush()
	}
}
