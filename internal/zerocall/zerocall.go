// Package zerocall calls every exported method of a value with zero
// arguments, for tests that check that nil and zero-value objects give
// errors and never panic.
package zerocall

import (
	"context"
	"fmt"
	"reflect"
	"time"
)

// Result is what one method call gave.
type Result struct {
	Method string
	Err    error // the call's last result when it is an error; nil otherwise
	HasErr bool  // the method returns an error
	Panic  any   // what the call panicked with, if it did
}

// Methods calls each exported method of v (a pointer) once: context
// arguments get a context that ends after a second, a variadic parameter
// nothing, everything else its zero value.
func Methods(v any) []Result {
	rv := reflect.ValueOf(v)
	errType := reflect.TypeFor[error]()
	ctxType := reflect.TypeFor[context.Context]()
	var out []Result
	for i := range rv.NumMethod() {
		m := rv.Type().Method(i)
		ft := rv.Method(i).Type()
		args := make([]reflect.Value, ft.NumIn())
		var cancels []context.CancelFunc
		for j := range args {
			in := ft.In(j)
			if ft.IsVariadic() && j == ft.NumIn()-1 {
				args = args[:j]
				break
			}
			if in == ctxType {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				cancels = append(cancels, cancel)
				args[j] = reflect.ValueOf(ctx)
				continue
			}
			args[j] = reflect.Zero(in)
		}
		r := Result{Method: m.Name, HasErr: ft.NumOut() > 0 && ft.Out(ft.NumOut()-1) == errType}
		func() {
			defer func() { r.Panic = recover() }()
			res := rv.Method(i).Call(args)
			if r.HasErr {
				r.Err, _ = res[len(res)-1].Interface().(error)
			}
		}()
		for _, c := range cancels {
			c()
		}
		out = append(out, r)
	}
	return out
}

// String formats r for a test's log.
func (r Result) String() string {
	switch {
	case r.Panic != nil:
		return fmt.Sprintf("%s: panic: %v", r.Method, r.Panic)
	case r.HasErr:
		return fmt.Sprintf("%s: %v", r.Method, r.Err)
	default:
		return r.Method + ": no error result"
	}
}
