// The JFR peer of benches/whole/run.sh: grafana/jfr-parser's `parser` package (copied from a
// checkout, see run.sh) driven as its own `pprof.ParseJFR` drives it (pprof/parser.go and
// pprof/pprof.go, `addStacktrace`): every event parsed, CPU samples (jdk.ExecutionSample)
// aggregated per stack trace reference, each new stack trace resolved once into locations
// (method, line) and functions named `Class.method`. It builds no pprof message at the end, so
// it does less than ParseJFR. Prints the samples, stacks and functions it kept.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/grafana/jfr-parser/parser"
	"github.com/grafana/jfr-parser/parser/types"
)

type loc struct {
	method types.MethodRef
	line   uint32
}

func main() {
	samples, stacks, funcs := 0, 0, 0
	for _, path := range os.Args[1:] {
		body, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		p := parser.NewParser(body, parser.Options{SymbolProcessor: parser.ProcessSymbols})
		byRef := map[types.StackTraceRef][]int64{}
		locations := map[loc]int{}
		functions := map[types.MethodRef]string{}
		for {
			typ, err := p.ParseEvent()
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if typ != p.TypeMap.T_EXECUTION_SAMPLE {
				continue
			}
			samples++
			ref := p.ExecutionSample.StackTrace
			if v, ok := byRef[ref]; ok {
				v[0]++
				continue
			}
			st := p.GetStacktrace(ref)
			if st == nil {
				continue
			}
			ids := make([]int, 0, len(st.Frames))
			for _, f := range st.Frames {
				k := loc{f.Method, f.LineNumber}
				if id, ok := locations[k]; ok {
					ids = append(ids, id)
					continue
				}
				if _, ok := functions[f.Method]; !ok {
					m := p.GetMethod(f.Method)
					if m == nil {
						continue
					}
					cls := p.GetClass(m.Type)
					if cls == nil {
						continue
					}
					functions[f.Method] = p.GetSymbolString(cls.Name) + "." + p.GetSymbolString(m.Name)
				}
				locations[k] = len(locations)
				ids = append(ids, locations[k])
			}
			_ = ids
			byRef[ref] = []int64{1}
			stacks++
		}
		funcs += len(functions)
	}
	fmt.Println(samples, "samples,", stacks, "stacks,", funcs, "functions")
}
